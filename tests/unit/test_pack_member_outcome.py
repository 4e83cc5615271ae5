"""How a packed case ended when its pack was cancelled (scancel) or its node failed: Slurm
signals every process of the allocation, the case's program too, before the pack runner
can mark the case, so its status file says 'FAILED, signal 15'. The case took the blame
('killed by signal 15 (SIGTERM)', at the sanity stage) while the pack's line said
'CANCELLED (cancelled by Slurm)'; seen on the CI cluster with scancel mid-run."""

from __future__ import annotations

from pathlib import PurePosixPath

from assay.schedulers.base import JobOutcome, JobSpec, JobState
from assay.schedulers.packing import outcome_of_member

SPEC = JobSpec(
    "assay-0c23637a",
    PurePosixPath("/s/run.sh"),
    PurePosixPath("/s"),
    PurePosixPath("/s/o"),
    PurePosixPath("/s/e"),
)
KILLED = {"state": "FAILED", "exit_code": None, "signal": 15, "started": 1.0, "ended": 4.0}


def test_a_case_killed_by_its_cancelled_packs_signal_is_cancelled_with_the_packs_reason():
    pack = JobOutcome(JobState.CANCELLED, reason="cancelled by Slurm", job_id="12425", nodes="c1")
    got = outcome_of_member(SPEC, pack, KILLED)
    assert got.state == JobState.CANCELLED
    assert got.reason == "cancelled by Slurm; the case was killed by signal 15"
    assert got.job_id == "12425+assay-0c23637a" and got.nodes == "c1"


def test_a_failed_node_is_the_cases_fate_too():
    pack = JobOutcome(JobState.NODE_FAIL, reason="node c1 failed", job_id="7")
    got = outcome_of_member(SPEC, pack, KILLED)
    assert got.state == JobState.NODE_FAIL
    assert got.reason is not None and got.reason.startswith("node c1 failed")


def test_a_case_its_own_program_killed_in_a_pack_that_completed_stays_failed():
    pack = JobOutcome(JobState.COMPLETED, job_id="8")
    got = outcome_of_member(SPEC, pack, KILLED)
    assert got.state == JobState.FAILED and got.signal == 15
    cancelled = JobOutcome(JobState.CANCELLED, reason="cancelled by Slurm", job_id="9")
    exited = {"state": "FAILED", "exit_code": 3, "signal": None}
    assert outcome_of_member(SPEC, cancelled, exited).state == JobState.FAILED


def test_a_case_that_crashed_on_its_own_keeps_its_signal_when_the_pack_is_cancelled_later():
    pack = JobOutcome(JobState.CANCELLED, reason="cancelled by Slurm", job_id="10")
    crashed = {**KILLED, "signal": 11}
    got = outcome_of_member(SPEC, pack, crashed)
    assert got.state == JobState.FAILED and got.signal == 11
