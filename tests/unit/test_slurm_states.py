"""How Slurm's job states map to outcomes, for states a real cluster cannot be made to show
on demand (out of memory without memory enforcement, preemption, a requeue). The squeue and
sacct answers are scripted (``scripted_slurm``); everything else is the real poller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from assay.config import Slurm
from assay.schedulers.base import JobOutcome, JobSpec, JobState
from assay.schedulers.slurm_queue import Job, SlurmQueue
from assay.transports.base import CommandResult
from assay.transports.local import LocalTransport

_FIELDS = {"%i": 0, "%T": 1, "%r": 2, "%N": 3}


def _render(record: str, fmt: str) -> str:
    """A job written ``id|state|reason|nodes``, as squeue prints it for ``-o fmt`` (the
    reason may hold anything, the other fields cannot)."""
    job_id, state, rest = record.split("|", 2)
    reason, nodes = rest.rsplit("|", 1)
    fields = [job_id, state, reason, nodes]
    return "|".join(fields[_FIELDS[f]] for f in fmt.split("|"))


def scripted_slurm(squeue: list[str], sacct: str = "") -> object:
    """A fake for squeue/sacct: squeue answers one scripted poll per call (the last one
    repeats; each job written ``id|state|reason|nodes``, printed in the format the poller
    asks for; one job per poll), sacct always answers ``sacct``."""
    calls: list[list[str]] = []

    async def command(argv: Sequence[str]) -> CommandResult:
        calls.append(list(argv))
        if argv[0] == "squeue":
            polls = sum(1 for c in calls if c[0] == "squeue")
            answer = squeue[min(polls, len(squeue)) - 1]
            fmt = argv[argv.index("-o") + 1]
            return CommandResult(0, _render(answer, fmt) + "\n" if answer else "", "")
        return CommandResult(0, sacct, "")

    return command


Followed = tuple[JobOutcome, list[tuple[str, str | None]], list[str]]


async def _follow(tmp_path: Path, squeue: list[str], sacct: str = "") -> Followed:
    """Follow job 42 with the real poller; its outcome, the states seen, the jobs cancelled."""
    command = scripted_slurm(squeue, sacct)
    states: list[tuple[str, str | None]] = []
    cancelled: list[str] = []

    async def cancel(ids: Sequence[str]) -> None:
        cancelled.extend(ids)

    queue = SlurmQueue(
        Slurm(poll_min=0.01, poll_max=0.02),
        LocalTransport(),
        command,  # type: ignore[arg-type]
        cancel,
        "test poller",
        on_state=lambda spec, state, reason: states.append((state, reason)),
    )
    spec = JobSpec(
        name="assay-x",
        script=tmp_path / "s",
        workdir=tmp_path,
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
    )
    job = Job("42", spec, asyncio.get_running_loop().create_future(), time.monotonic())
    queue.track(job)
    outcome = await asyncio.wait_for(job.future, 5)
    await queue.stop()
    return outcome, states, cancelled


@pytest.mark.parametrize(
    ("line", "state", "reason"),
    [
        ("42|OUT_OF_MEMORY|None|c1", JobState.OUT_OF_MEMORY, "out of memory"),
        ("42|PREEMPTED|None|c1", JobState.CANCELLED, "preempted by Slurm"),
        ("42|NODE_FAIL|None|c2", JobState.NODE_FAIL, "node failure (c2)"),
        ("42|BOOT_FAIL|None|c2", JobState.NODE_FAIL, "node failure (c2)"),
        ("42|DEADLINE|None|c1", JobState.TIMEOUT, None),
        ("42|TIMEOUT|None|c1", JobState.TIMEOUT, None),
    ],
)
def test_terminal_states(tmp_path: Path, line: str, state: JobState, reason: str | None) -> None:
    outcome, _, _ = asyncio.run(_follow(tmp_path, ["42|RUNNING|None|c1", line]))
    assert outcome.state == state and outcome.reason == reason and outcome.job_id == "42"


def test_a_requeued_job_is_followed_until_it_ends(tmp_path: Path) -> None:
    answers = [
        "42|RUNNING|None|c1",
        "42|REQUEUED|None|",
        "42|PENDING|BeginTime|",
        "42|RUNNING|None|c2",
        "42|COMPLETED|None|c2",
    ]
    (tmp_path / "out.status").write_text('{"exit_code": 0}')
    outcome, states, _ = asyncio.run(_follow(tmp_path, answers))
    assert outcome.state == JobState.COMPLETED and outcome.exit_code == 0
    assert [s for s, _ in states] == ["RUNNING", "REQUEUED", "PENDING", "RUNNING", "COMPLETED"]


def test_a_pending_reason_never_ends_a_job(tmp_path: Path) -> None:
    answers = ["42|PENDING|ReqNodeNotAvail, UnavailableNodes:c1|"] * 20 + [
        "42|RUNNING|None|c2",
        "42|FAILED|NonZeroExitCode|c2",
    ]
    (tmp_path / "out.status").write_text('{"exit_code": 3}')
    outcome, states, cancelled = asyncio.run(_follow(tmp_path, answers))
    assert outcome.state == JobState.FAILED and outcome.exit_code == 3
    assert cancelled == []
    assert states[0] == ("PENDING", "ReqNodeNotAvail, UnavailableNodes:c1")


def test_a_job_gone_from_squeue_ends_as_accounting_says(tmp_path: Path) -> None:
    answers = ["42|RUNNING|None|c1", ""]
    outcome, _, _ = asyncio.run(_follow(tmp_path, answers, "42|CANCELLED by 0|0:15|c1"))
    assert outcome.state == JobState.CANCELLED and outcome.reason == "cancelled by Slurm"


def test_a_job_slurm_forgot_is_a_node_failure_and_is_cancelled_to_be_sure(tmp_path: Path) -> None:
    outcome, _, cancelled = asyncio.run(_follow(tmp_path, ["42|RUNNING|None|c1", ""]))
    assert outcome.state == JobState.NODE_FAIL
    assert outcome.reason == "Slurm no longer knows this job (not in squeue or sacct)"
    assert cancelled == ["42"]


def test_a_reason_holding_the_separator_or_a_newline_cannot_end_a_job(tmp_path: Path) -> None:
    """squeue prints a reason as it is: what it holds must not move the fields or make a
    line of its own that reads as another answer about the job."""
    forged = "held|by admin\n42|COMPLETED|c9|None"
    answers = [f"42|PENDING|{forged}|"] * 3 + ["42|RUNNING|None|c1", "42|FAILED|x|c1"]
    outcome, states, _ = asyncio.run(_follow(tmp_path, answers))
    assert outcome.state == JobState.FAILED  # as it really ended: not the forged COMPLETED
    assert states[0] == ("PENDING", forged.split("\n")[0])


def test_a_status_written_by_another_job_is_not_this_jobs_result(tmp_path: Path) -> None:
    """A job of an earlier attempt that Slurm gave up on (its node went down) may still
    run there and write its status where the next attempt's job writes its own: the
    status names the job that wrote it, and another job's is not believed."""
    (tmp_path / "out.status").write_text('{"job": "41", "exit_code": 0}')
    outcome, _, _ = asyncio.run(_follow(tmp_path, ["42|RUNNING|None|c1", "42|FAILED|x|c1"]))
    assert outcome.state == JobState.FAILED and outcome.exit_code is None
    (tmp_path / "out.status").write_text('{"job": "42", "exit_code": 0}')
    outcome, _, _ = asyncio.run(_follow(tmp_path, ["42|RUNNING|None|c1", "42|FAILED|x|c1"]))
    assert outcome.state == JobState.COMPLETED and outcome.exit_code == 0


def test_a_packed_case_status_written_in_another_pack_is_not_believed(tmp_path: Path) -> None:
    from assay.schedulers.packing import member_outcome

    spec = JobSpec("assay-x", tmp_path / "s", tmp_path, tmp_path / "out", tmp_path / "err")
    (tmp_path / "out.status").write_text('{"job": "7", "state": "COMPLETED", "exit_code": 0}')
    pack = JobOutcome(JobState.COMPLETED, job_id="8")
    local = LocalTransport()
    assert asyncio.run(member_outcome(local, spec, pack)).state != JobState.COMPLETED
    done = asyncio.run(member_outcome(local, spec, JobOutcome(JobState.COMPLETED, job_id="7")))
    assert done.exit_code == 0
