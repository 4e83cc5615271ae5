"""Record a history of the Triad example with a 9% slowdown in it, and draw its trend plot.

    .venv/bin/python examples/trend/plot_trend.py [--sessions 12] [--step-at 8] [--out trend.svg]

Runs `assay run --repeat 3` of test_trend.py in a fresh prefix once per session (the
kernel's level drops from 10 to 9.1 GB/s at session --step-at), then reads the series back
from the results database and draws it with assay's own plotting and change-point code
(the plot the HTML report shows). It also writes the HTML report of the last session.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from assay.results import plots
from assay.results.changes import Settings, analyse, better_of
from assay.results.db import CaseKey, ResultsDB
from assay.results.db.source import DatabaseHistory
from assay.results.model import CaseResult, Status

HERE = Path(__file__).resolve().parent
# The console script next to this interpreter (the venv's), else the one on PATH.
_SCRIPT = Path(sys.executable).with_name("assay")
ASSAY = [str(_SCRIPT)] if _SCRIPT.exists() else ["assay"]


def record(work: Path, sessions: int, step_at: int) -> None:
    html = ["--html", str(work / "report.html")]
    for n in range(sessions):
        level = "10.0" if n < step_at else "9.1"
        done = subprocess.run(
            [*ASSAY, "run", str(HERE / "test_trend.py"), "--plain", "--repeat", "3", *html],
            cwd=work,
            env={**os.environ, "LEVEL": level},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"session {n + 1} failed:\n{done.stdout}{done.stderr}")


def draw(work: Path, out: Path) -> str | None:
    """Write the plot; return the change it found (its message), if any."""
    with ResultsDB.open(work / ".assay" / "results.sqlite") as db:
        (info,) = db.catalogue()
        last = db.runs(info.series, limit=1)[0].session
        key = CaseKey(
            info.test, info.params, f"{info.system}:{info.partition}", info.environment, info.nodes
        )
        points = DatabaseHistory(db).metric_series(_result_of(key), "triad")
    history = [p for p in points if p.session != last]
    current = [p.value for p in points if p.session == last]
    analysis = analyse("triad", points, better_of("GB/s", None, None, None), Settings())
    svg = plots.metric_history(
        history, current, "GB/s", plots.Band(None, None, None), analysis.change_points, "trend"
    )
    out.write_text(svg)
    return analysis.message


def _result_of(key: CaseKey) -> CaseResult:
    """A result with this key (what a history source looks a series up by)."""
    system, _, partition = key.partition.partition(":")
    result = CaseResult(
        "", "", key.test, key.test, dict(key.params), system, partition, key.environment,
        Status.PASSED,
    )  # fmt: skip
    result.nodes = key.nodes
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--step-at", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("trend.svg"))
    parser.add_argument("--work", type=Path, help="keep the sessions here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        record(work, args.sessions, args.step_at)
        found = draw(work, args.out.resolve())
    print(f"wrote {args.out}")
    print(found or "no significant change found")


if __name__ == "__main__":
    main()
