"""A suite case's large comparison runs beside the event loop (run/beside_loop.py): the
cases beside it go on. On the loop it held them still: a short case beside a comparison of
100,000 differing lines was noticed to end only once that comparison did, and recorded as
running as long."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from assay.run.beside_loop import BIG

SUITE = """\
[suite]
name = "big"
cases = "cases/*"
command = "sh run.sh"

[suite.compare]
{files}rtol = 1e-6
"""
LINES = 100_000
# Every line's value differs from the expected one: the comparison reads and judges them all.
BIG_RUN = (
    f"awk 'BEGIN {{ for (k = 0; k < {LINES}; k++) printf \"step %d energy %.6f\\n\", k, k + 1 }}'"
    " > out.txt && touch {written}\n"
)
# The small case ends 0.3 s after the big one's output is written: while it is compared.
SMALL_RUN = "until [ -e {written} ]; do sleep 0.01; done; sleep 0.3; echo done > out.txt\n"


def _write_suite(root: Path, files: str) -> None:
    (root / "big.suite.toml").write_text(SUITE.replace("{files}", files))
    big = root / "cases" / "a-big"
    (big / "expected").mkdir(parents=True)
    with open(big / "expected" / "out.txt", "w") as out:
        out.writelines(f"step {k} energy {k:.6f}\n" for k in range(LINES))
    assert (big / "expected" / "out.txt").stat().st_size >= BIG  # (else it stays on the loop)
    written = shlex.quote(str(root / "big-written"))
    (big / "run.sh").write_text(BIG_RUN.replace("{written}", written))
    small = root / "cases" / "b-small"
    (small / "expected").mkdir(parents=True)
    (small / "expected" / "out.txt").write_text("done\n")
    (small / "run.sh").write_text(SMALL_RUN.replace("{written}", written))


# Named files are sized as written; globs, or no files (every expected one), by the expected.
@pytest.mark.parametrize("files", ['files = ["out.txt"]\n', 'files = ["*.txt"]\n', ""])
def test_cases_beside_a_large_comparison_end_while_it_runs(assay_cli, tmp_path, files):
    _write_suite(tmp_path, files)

    result = assay_cli("run", ".", "--plain", "--max-jobs", "2", timeout=300)

    assert result.code == 1, result  # the big case's outputs differ
    report = json.loads(next((tmp_path / ".assay" / "runs").glob("*/report.json")).read_text())
    cases = {c["params"]["case"]: c for c in report["cases"]}
    big, small = cases["a-big"], cases["b-small"]
    assert big["status"] == "failed" and big["failure"]["stage"] == "sanity", big
    assert f"{LINES} values differ" in big["failure"]["reason"], big
    assert small["status"] == "passed", small
    # Both started together; the small case ended while the comparison ran (on the loop,
    # its end was noticed only after the comparison's), and its run was timed as its own.
    assert small["finished"] < big["finished"], (small, big)
    assert small["timings"]["run"] < big["timings"]["sanity"], (small, big)
