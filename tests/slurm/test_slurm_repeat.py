"""``--repeat`` on the real Slurm cluster: every repetition is a job (or pack member) of its
own, with a key of its own in job names and the journal."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_assay
from tests.slurm.conftest import MARKS

pytestmark = MARKS

SAMPLED = """
import assay

class Sampled(assay.Test):
    systems = ["*:debug"]
    time_limit = "1m"
    i = assay.parameter([1, 2])
    command = "echo value: $SLURM_JOB_ID"

    @assay.metric()
    def job(self, out):
        return out.extract(r"value: (\\d+)", float)
"""


def test_repeated_cases_on_slurm_are_samples_of_their_own(slurm_dir: Path) -> None:
    (slurm_dir / "test_sampled.py").write_text(SAMPLED)
    result = run_assay("run", "test_sampled.py", "--plain", "--repeat", "3", cwd=slurm_dir)
    assert result.code == 0, result
    cases = result.report["cases"]
    assert sorted((c["params"]["i"], c["repeat"]) for c in cases) == [
        (i, r) for i in ("1", "2") for r in (1, 2, 3)
    ]
    # A repetition waits for the one before it: three different jobs for each case.
    for i in ("1", "2"):
        jobs = {c["metrics"][0]["value"] for c in cases if c["params"]["i"] == i}
        assert len(jobs) == 3
    journal = Path(result.report["session"]["directory"]) / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    results = [e["case"] for e in events if e["t"] == "result"]
    assert len(results) == len(set(results)) == 6
    assert len(result.report["samples"]) == 2
