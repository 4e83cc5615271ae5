"""``assay run --repeat N``: every selected case N times, round-robin, every sample kept."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema

from assay.results.report import schema
from tests.conftest import run_assay

SAMPLED = """
import assay

class Alpha(assay.Test):
    command = "echo start Alpha >> {log}; sleep 0.2; echo value: $$; echo end Alpha >> {log}"

    def sanity(self, out):
        out.expect("value")

    @assay.metric("GB/s")
    def rate(self, out):
        return out.extract(r"value: (\\d+)", float) % 8999 + 1000  # (pids a few apart differ)

class Beta(assay.Test):
    command = "echo start Beta >> {log}; echo value: 7; echo end Beta >> {log}"

    @assay.metric("s")
    def time(self, out):
        return out.extract(r"value: (\\d+)", float)
"""


def _sampled(write, tmp_path: Path) -> Path:
    log = tmp_path / "order.log"
    write("test_sampled.py", SAMPLED.replace("{log}", str(log)))
    return log


def test_repeat_runs_every_case_n_times_round_robin_and_keeps_every_sample(
    assay_cli, write, tmp_path
):
    log = _sampled(write, tmp_path)
    result = assay_cli("run", "test_sampled.py", "--plain", "--serial", "--repeat", "3")
    assert result.code == 0, result
    # Round-robin, never back to back: A B A B A B.
    starts = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("start")]
    assert starts == ["Alpha", "Beta"] * 3
    report = result.report
    jsonschema.validate(report, schema())
    assert report["summary"]["total"] == 6 and report["summary"]["passed"] == 6
    alpha = [c for c in report["cases"] if c["test"] == "Alpha"]
    assert [c["repeat"] for c in alpha] == [1, 2, 3]
    assert len({c["id"] for c in alpha}) == 1  # one case, three samples
    values = [c["metrics"][0]["value"] for c in alpha]
    # Each repetition ran its own process (its own pid), in its own stage dir.
    assert len(set(values)) == 3
    outputs = {c["output_dir"] for c in alpha}
    assert len(outputs) == 3 and all(Path(o).is_dir() for o in outputs)
    samples = {s["metric"]: s for s in report["samples"]}
    assert samples["rate"]["samples"] == 3
    assert samples["rate"]["values"] == values
    assert samples["rate"]["median"] == sorted(values)[1]
    assert samples["rate"]["min"] == min(values) and samples["rate"]["max"] == max(values)
    assert samples["time"]["median"] == 7 and samples["time"]["stdev"] == 0
    # The summary shows the median and spread of each metric's samples.
    assert "samples (--repeat):" in result.stdout
    assert f"rate: median {sorted(values)[1]:.4g} GB/s" in result.stdout
    assert "3 samples" in result.stdout
    # The journal has one result per repetition, under its own key.
    journal = Path(report["session"]["directory"]) / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    results = [
        e["case"] for e in events if e["t"] == "result" and e["case"].startswith(alpha[0]["id"])
    ]
    assert sorted(results) == sorted(
        [alpha[0]["id"], f"{alpha[0]['id']}-r2", f"{alpha[0]['id']}-r3"]
    )


def test_repetitions_of_one_case_never_overlap(assay_cli, write, tmp_path):
    log = _sampled(write, tmp_path)
    result = assay_cli("run", "test_sampled.py", "--plain", "-n", "Alpha", "--repeat", "3")
    assert result.code == 0, result
    lines = [line.split()[0] for line in log.read_text().splitlines()]
    assert lines == ["start", "end"] * 3


def test_case_selects_every_repetition_and_the_display_labels_them(assay_cli, write, tmp_path):
    _sampled(write, tmp_path)
    listed = assay_cli("list", "test_sampled.py", "--json")
    cases = json.loads(listed.stdout)["cases"]
    beta = next(c["id"] for c in cases if c["name"].startswith("Beta"))
    result = assay_cli("run", "test_sampled.py", "--plain", "--case", beta, "--repeat", "2")
    assert result.code == 0, result
    assert [(c["test"], c["repeat"]) for c in result.report["cases"]] == [("Beta", 1), ("Beta", 2)]
    assert "[   OK] Beta @local:default+builtin #2" in result.stdout


DEPENDENT = """
import assay

class Build(assay.Test):
    command = "echo built >> {log}"

class Use(assay.Test):
    depends_on = ["Build"]
    command = "echo used >> {log}"
"""


def test_repetitions_share_what_their_dependencies_built(assay_cli, write, tmp_path):
    log = tmp_path / "order.log"
    write("test_dep.py", DEPENDENT.replace("{log}", str(log)))
    result = assay_cli("run", "test_dep.py", "--plain", "-n", "Use", "--repeat", "3")
    assert result.code == 0, result
    # Build is only a dependency here: it runs once, and all three repetitions of Use use it.
    assert sorted(log.read_text().split()) == ["built", "used", "used", "used"]
    cases = result.report["cases"]
    assert [(c["test"], c["repeat"], c["selected"]) for c in cases] == [
        ("Build", 1, False),
        ("Use", 1, True),
        ("Use", 2, True),
        ("Use", 3, True),
    ]


SLOW_SECOND = """
import assay

class Counted(assay.Test):
    # The second repetition (and only it) waits until the runner is killed.
    command = (
        "n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; "
        "if [ $n = 2 ]; then sleep 60; fi; echo value: $n"
    )

    @assay.metric()
    def n(self, out):
        return out.extract(r"value: (\\d+)", float)
"""


def test_resume_keeps_finished_repetitions_and_runs_the_rest(tmp_path, write):
    count = tmp_path / "count"
    write("test_counted.py", SLOW_SECOND.replace("{count}", str(count)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_counted.py", "--plain", "--repeat", "3"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (count.exists() and count.read_text().strip() == "2"):
        assert time.monotonic() < deadline, "the second repetition never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 0, resumed
    cases = resumed.report["cases"]
    assert [c["repeat"] for c in cases] == [1, 2, 3]
    # The first sample was kept from the killed runner; the second and third ran again.
    assert [c["metrics"][0]["value"] for c in cases] == [1.0, 3.0, 4.0]
    assert count.read_text().strip() == "4"


COMPARED = """
import assay

class Compared(assay.Test):
    command = "echo 2.5 > result.txt"

    def sanity(self, out):
        out.compare("expected/", files=["result.txt"])
"""


def test_bless_takes_one_repetition_of_a_case(assay_cli, write, tmp_path):
    write("test_compared.py", COMPARED)
    write("expected/result.txt", "2\n")
    result = assay_cli("run", "test_compared.py", "--plain", "--repeat", "2")
    assert result.code == 1 and result.report["summary"]["failed"] == 2, result
    blessed = assay_cli("bless", "--yes")
    assert blessed.code == 0, blessed
    assert "blessing 1 file(s) of 1 case(s):" in blessed.stdout
    assert (tmp_path / "expected" / "result.txt").read_text() == "2.5\n"
