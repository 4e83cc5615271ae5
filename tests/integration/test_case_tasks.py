"""A case has an asyncio task once it has its slots (or settles without one), not while it
waits for a slot: when the first of 12 cases runs, the event loop holds fewer than 12 tasks
(a task per planned case made them all at the start). A finished case's task lives on
until its verdict is on disk (the journal's next sync), so later counts vary."""

from __future__ import annotations

from pathlib import Path

# Each case's sanity (test code, on the runner's thread) notes how many tasks the event
# loop holds at that moment.
COUNTING = """
import asyncio
import assay

class Counted(assay.Test):
    i = assay.parameter(range(12))
    log = assay.variable(str, "")
    command = "echo hi"

    def sanity(self, out):
        out.expect("hi")
        with open(self.log, "a") as f:
            f.write(f"{len(asyncio.all_tasks())}\\n")
"""


def _counts(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().splitlines()]


def test_waiting_cases_have_no_task_serially(assay_cli, write, tmp_path):
    write("test_counted.py", COUNTING)
    log = tmp_path / "tasks.log"
    result = assay_cli("run", "test_counted.py", "--serial", "-S", f"log={log}", "--plain")
    assert result.code == 0, result
    counts = _counts(log)
    assert len(counts) == 12
    assert counts[0] < 12, counts


def test_waiting_cases_have_no_task_with_slots(assay_cli, write, tmp_path):
    write("test_counted.py", COUNTING)
    log = tmp_path / "tasks.log"
    result = assay_cli("run", "test_counted.py", "--max-jobs", "2", "-S", f"log={log}", "--plain")
    assert result.code == 0, result
    counts = _counts(log)
    assert len(counts) == 12
    assert counts[0] < 12, counts
