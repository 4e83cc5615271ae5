"""The Slurm job script: every value quoted, every directive before the first command."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from assay.config import Partition, PartitionRef, Slurm
from assay.schedulers import slurm
from assay.schedulers.base import STATUS_SUFFIX, JobResources, JobSpec
from assay.schedulers.slurm import SlurmScheduler, SubmitError, parsable_job_id
from assay.transports.base import CommandResult
from assay.transports.local import LocalTransport


def _scheduler(**slurm: object) -> SlurmScheduler:
    config = Partition(scheduler="slurm", slurm=Slurm(**slurm))  # type: ignore[arg-type]
    return SlurmScheduler(PartitionRef("ci", "debug", config), LocalTransport())


def _spec(tmp_path: Path, name: str = "assay-1234abcd") -> JobSpec:
    return JobSpec(
        name=name,
        script=tmp_path / "run.sh",
        workdir=tmp_path / "stage dir",
        stdout=tmp_path / "stage dir" / "out",
        stderr=tmp_path / "stage dir" / "err",
        time_limit=90,
        resources=JobResources(nodes=2, tasks=4, tasks_per_node=2, exclusive=True),
    )


def test_directives_map_the_resources_and_quote_every_value(tmp_path: Path) -> None:
    scheduler = _scheduler(account="proj; rm -rf /", options=["--comment=a b"])
    lines = scheduler.directives(_spec(tmp_path))
    assert all(line.startswith("#SBATCH ") for line in lines)
    assert "#SBATCH --nodes=2" in lines and "#SBATCH --ntasks=4" in lines
    assert "#SBATCH --ntasks-per-node=2" in lines and "#SBATCH --exclusive" in lines
    assert "#SBATCH --time=00:01:30" in lines  # Slurm's own format, rounded up to seconds
    assert '#SBATCH --account="proj; rm -rf /"' in lines
    assert '#SBATCH "--comment=a b"' in lines


def test_paths_and_the_job_name_go_to_sbatch_as_arguments_not_directives(
    tmp_path: Path,
) -> None:
    """Paths hold whatever the file system allows, which no directive can carry exactly."""
    scheduler = _scheduler()
    spec = _spec(tmp_path)
    assert not any("chdir" in line or "output" in line for line in scheduler.directives(spec))
    assert scheduler.job_options(spec) == [
        f"--chdir={tmp_path / 'stage dir'}",
        f"--output={tmp_path / 'stage dir' / 'out'}",
        f"--error={tmp_path / 'stage dir' / 'err'}",
    ]


def test_the_header_runs_nothing_before_the_last_directive(tmp_path: Path) -> None:
    """sbatch stops reading #SBATCH at the first command: a command in between would
    silently drop every directive after it."""
    header = _scheduler().header(_spec(tmp_path))
    first_command = next(i for i, line in enumerate(header) if not line.startswith("#"))
    assert all(not line.startswith("#SBATCH") for line in header[first_command:])


def test_the_footer_records_exit_code_host_and_run_time(tmp_path: Path) -> None:
    scheduler = _scheduler()
    spec = _spec(tmp_path)
    spec.workdir.mkdir()
    script = [
        "#!/bin/bash",
        *scheduler.header(spec),
        "sleep 0.2; false",
        "assay_status=$?",
        *scheduler.footer(spec),
    ]
    spec.script.write_text("\n".join(script) + "\n")
    subprocess.run(["bash", str(spec.script)], check=True, env={"SLURM_JOB_ID": "99"})
    status = json.loads(Path(str(spec.stdout) + STATUS_SUFFIX).read_text())
    assert status["exit_code"] == 1 and status["host"] and status["job"] == "99"
    assert float(status["ended"]) - float(status["started"]) >= 0.2
    task = {"SLURM_JOB_ID": "100", "SLURM_ARRAY_JOB_ID": "98", "SLURM_ARRAY_TASK_ID": "2"}
    subprocess.run(["bash", str(spec.script)], check=True, env=task)
    status = json.loads(Path(str(spec.stdout) + STATUS_SUFFIX).read_text())
    assert status["job"] == "98_2"  # an array task, as the poller follows it


def test_the_footer_replaces_a_link_the_test_left_at_the_status_name(tmp_path: Path) -> None:
    """The test's command runs in the job just before the footer, in the same directory:
    a link it leaves at the status's name (to ~/.bashrc) was truncated and written by the
    footer's ``> status``; now the status goes under a fresh name, renamed over the link."""
    scheduler = _scheduler()
    spec = _spec(tmp_path)
    spec.workdir.mkdir()
    victim = tmp_path / "bashrc"
    victim.write_text("export PATH=$HOME/bin:$PATH\n")
    status = Path(str(spec.stdout) + STATUS_SUFFIX)
    plant = f"ln -s {shlex.quote(str(victim))} {shlex.quote(str(status))}"
    script = ["#!/bin/bash", *scheduler.header(spec), plant, "assay_status=$?"]
    spec.script.write_text("\n".join([*script, *scheduler.footer(spec)]) + "\n")
    subprocess.run(["bash", str(spec.script)], check=True, env={"SLURM_JOB_ID": "7"})
    assert victim.read_text() == "export PATH=$HOME/bin:$PATH\n"
    assert not status.is_symlink()
    assert json.loads(status.read_text())["job"] == "7"
    assert sorted(p.name for p in spec.workdir.iterdir()) == [status.name]  # no temporary


def test_a_link_the_build_left_at_the_jobs_output_names_is_gone_before_submission(
    tmp_path: Path,
) -> None:
    """slurmstepd opens --output and --error following links: a link the build left there
    (to ~/.bashrc) had the user's file truncated by the run job. ``slurmstepd_like_sbatch``
    opens the output files as slurmstepd does (O_CREAT|O_TRUNC, following), at submission."""
    scheduler = _scheduler()
    spec = _spec(tmp_path)
    spec.workdir.mkdir()
    victims = [tmp_path / "bashrc", tmp_path / "profile"]
    for victim, name in zip(victims, (spec.stdout, spec.stderr), strict=True):
        victim.write_text("the user's own\n")
        os.symlink(victim, name)

    async def slurmstepd_like_sbatch(argv: Sequence[str]) -> CommandResult:
        for arg in argv:
            if arg.startswith(("--output=", "--error=")):
                with open(arg.split("=", 1)[1], "w") as fh:
                    fh.write("job output\n")
        return CommandResult(0, "4242\n", "")

    scheduler._command = slurmstepd_like_sbatch  # type: ignore[method-assign]
    asyncio.run(scheduler._submit(_spec(tmp_path), track=False))
    assert [v.read_text() for v in victims] == ["the user's own\n"] * 2
    assert Path(spec.stdout).read_text() == "job output\n"


def test_submission_retries_a_busy_controller_then_gives_up_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A controller that never answers cannot be made on demand without stopping the shared
    test cluster: ``unreachable_sbatch`` fakes its answer, and each answer takes 30 ms of a
    clock of its own (``slow_controller_clock``), so that how often it is asked within the
    patience does not depend on how loaded the machine is."""
    scheduler = _scheduler(poll_min=0.001, poll_max=0.002)
    scheduler.submit_patience = 0.1
    calls = []
    now = [1000.0]

    async def unreachable_sbatch(argv: Sequence[str]) -> CommandResult:
        calls.append(argv[0])
        now[0] += 0.03
        return CommandResult(1, "", "sbatch: error: Batch job submission failed: Socket timed out")

    class slow_controller_clock:  # (stands in for the time module)
        @staticmethod
        def monotonic() -> float:
            return now[0]

        time = staticmethod(time.time)

    monkeypatch.setattr(slurm, "time", slow_controller_clock)
    scheduler._command = unreachable_sbatch  # type: ignore[method-assign]
    expected = "could not reach the Slurm controller for 100ms: sbatch: error"
    with pytest.raises(SubmitError, match=expected):
        asyncio.run(scheduler._submit(_spec(tmp_path)))
    # sbatch once, then asked whether the job was made until 100 ms had gone: at 30, 60,
    # 90 and 120 ms, when it gave up.
    assert len(calls) == 4 and "sbatch" in calls[0] and "sbatch" not in calls[1], calls


def test_a_refused_submission_is_not_retried(tmp_path: Path) -> None:
    scheduler = _scheduler()
    calls = []

    async def refusing_sbatch(argv: Sequence[str]) -> CommandResult:
        calls.append(argv)
        return CommandResult(1, "", "sbatch: error: invalid partition specified: nope")

    scheduler._command = refusing_sbatch  # type: ignore[method-assign]
    with pytest.raises(
        SubmitError,
        match=r"refused the job: sbatch: error: inv.* \[systems.ci.partitions.debug.slurm\]",
    ):
        asyncio.run(scheduler._submit(_spec(tmp_path)))
    assert len(calls) == 1


# --- an sbatch that fails after the controller may have made the job ----------------------


class ScriptedSlurm:
    """Answers scheduler commands from scripts (a fake for faults a real controller cannot
    show on demand): ``sbatch`` answers pop from ``sbatch``; ``squeue`` lookups from
    ``squeue`` (the last one repeats; ``{tag}`` in an answer is the submission's job
    name); every call is recorded, ``scancel``'s ids too."""

    def __init__(self, sbatch: list[CommandResult], squeue: list[CommandResult]) -> None:
        self.sbatch, self.squeue = sbatch, squeue
        self.calls: list[list[str]] = []
        self.cancelled: list[str] = []

    async def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(list(argv))
        if argv[0] == "sbatch":
            return self.sbatch.pop(0)
        if argv[0] == "scancel":
            self.cancelled.extend(argv[1:])
            return CommandResult(0, "", "")
        answer = self.squeue.pop(0) if len(self.squeue) > 1 else self.squeue[0]
        return CommandResult(answer.code, answer.stdout.replace("{tag}", self.tag()), "")

    def named(self, command: str) -> list[list[str]]:
        return [c for c in self.calls if c[0] == command]

    def tag(self) -> str:
        (name,) = [a for a in self.named("sbatch")[0] if a.startswith("--job-name=")]
        return name.removeprefix("--job-name=")


LOST = CommandResult(124, "", "sbatch: no answer within 60s")
TIMED_OUT = CommandResult(1, "", "sbatch: error: Batch job submission failed: Socket timed out")
UNREACHABLE = CommandResult(1, "", "squeue: error: Unable to contact slurm controller")


def _submit(tmp_path: Path, slurm: ScriptedSlurm) -> tuple[SlurmScheduler, str]:
    scheduler = _scheduler(poll_min=0.001, poll_max=0.002)
    scheduler._command = slurm  # type: ignore[method-assign]
    job = asyncio.run(scheduler._submit(_spec(tmp_path), track=False))
    return scheduler, str(job)


def test_a_job_made_before_sbatch_lost_its_answer_is_followed_not_submitted_again(
    tmp_path: Path,
) -> None:
    slurm = ScriptedSlurm([LOST], [UNREACHABLE, CommandResult(0, "4242|{tag}\n", "")])
    scheduler, job = _submit(tmp_path, slurm)
    assert job == "4242" and scheduler.adopted == 1
    assert len(slurm.named("sbatch")) == 1
    lookup = slurm.named("squeue")[-1]
    assert f"--name={slurm.tag()}" in lookup and "all" in lookup  # finished jobs too
    assert slurm.tag().startswith("assay-1234abcd.")


def test_a_job_not_made_is_submitted_again_once_squeue_says_so(tmp_path: Path) -> None:
    slurm = ScriptedSlurm(
        [TIMED_OUT, CommandResult(0, "77\n", "")],
        [UNREACHABLE, CommandResult(0, "5|someone-else\n6|x|{tag}\n7|{tag}x\n", "")],
    )
    scheduler, job = _submit(tmp_path, slurm)
    assert job == "77" and scheduler.adopted == 0
    assert len(slurm.named("sbatch")) == 2  # again only after a lookup that answered
    assert len(slurm.named("squeue")) == 2
    assert slurm.named("sbatch")[0] == slurm.named("sbatch")[1]  # the same submission


def test_a_job_made_twice_is_kept_once(tmp_path: Path) -> None:
    slurm = ScriptedSlurm([TIMED_OUT], [CommandResult(0, "31|{tag}\n30|{tag}\n30|{tag}\n", "")])
    _, job = _submit(tmp_path, slurm)
    assert job == "30" and slurm.cancelled == ["31"]


def test_a_submission_stopped_half_way_is_cancelled_by_its_name_on_shutdown(
    tmp_path: Path,
) -> None:
    calls: list[list[str]] = []
    scheduler = _scheduler()

    async def controller_that_never_answers(argv: Sequence[str]) -> CommandResult:
        calls.append(list(argv))
        if argv[0] == "sbatch":
            await asyncio.sleep(3600)
        return CommandResult(0, "", "")

    scheduler._command = controller_that_never_answers  # type: ignore[method-assign]

    async def interrupted() -> None:
        task = asyncio.create_task(scheduler._submit(_spec(tmp_path)))
        while not calls:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await scheduler.shutdown()

    asyncio.run(interrupted())
    (tag,) = [a for a in calls[0] if a.startswith("--job-name=")]
    name = tag.removeprefix("--job-name=")
    assert calls[-1] == ["scancel", f"--user={os.getuid()}", f"--name={name}"]


def test_the_job_id_is_the_last_line_of_sbatch_parsable_output() -> None:
    # A site's sbatch wrapper that prints a banner before the id: before, the whole output,
    # banner and newline included, was taken as the job's id.
    assert parsable_job_id("4242\n") == "4242"
    assert parsable_job_id("4242;cluster2\n") == "4242"
    assert parsable_job_id("Site policy: jobs are accounted to proj\n4242\n") == "4242"
    # no id in the answer: none (the job is then looked for by its name)
    assert parsable_job_id("Submitted, see the portal\n") == ""
    # a wrapper's bare number after the id: which is the id is unclear, none (before, the
    # last line's number was taken, another job's id)
    assert parsable_job_id("4242\n1\n") == ""
    assert parsable_job_id("4242\nqueued jobs: 1\n") == "4242"
    assert parsable_job_id("") == ""


def test_the_time_limit_slurm_applies_is_named_when_it_is_not_the_declared_one() -> None:
    from assay.schedulers.slurm_queue import _applied_limit

    # Slurm keeps whole minutes and rounds --time up: 10 s runs for a minute
    assert _applied_limit(10.0) == ("Slurm applied 1m: it counts time limits in whole minutes")
    assert _applied_limit(90.0) == "Slurm applied 2m: it counts time limits in whole minutes"
    assert _applied_limit(120.0) is None  # kept as declared
    assert _applied_limit(None) is None
