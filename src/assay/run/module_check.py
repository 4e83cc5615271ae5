"""The setup stage's check of an environment's modules: its module commands run once per
session, on this machine, before any case of the environment builds, so that a module
that does not load fails the case at setup with the module system's own message (not
later, as a compiler that is missing or the wrong one)."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

import msgspec
from msgspec import field

from assay.config import Environment
from assay.files import open_job_file, write_atomic
from assay.modules import MODULE_FAILED, module_lines
from assay.schedulers.base import JobSpec, JobState, Scheduler
from assay.schedulers.jobscript import compose
from assay.shell import comment


class ModuleChecks(msgspec.Struct):
    """The module checks of one session: one per environment, shared by its cases."""

    directory: Path
    scheduler: Scheduler
    slots: asyncio.Semaphore
    _checks: dict[str, asyncio.Task[tuple[str, str] | None]] = field(default_factory=dict)

    async def problem(self, name: str, env: Environment) -> tuple[str, str] | None:
        """(reason, the module system's whole message) if ``env``'s modules do not load."""
        if not module_lines(env):
            return None
        if name not in self._checks:
            self._checks[name] = asyncio.create_task(self._check(name, env))
        # One case being cancelled must not cancel the check the others wait for.
        return await asyncio.shield(self._checks[name])

    async def _check(self, name: str, env: Environment) -> tuple[str, str] | None:
        # The session's directory is reachable by the cases of other environments running
        # meanwhile, as the user: what they may have left at these names (a link to a file
        # of the user's, a FIFO) is replaced, never written through or read.
        self.directory.mkdir(parents=True, exist_ok=True)
        script = self.directory / f"{name}.sh"
        write_atomic(
            script,
            compose(
                ["#!/bin/bash", f"# assay: the modules of environment {name}", *module_lines(env)]
            ),
        )
        err = self.directory / f"{name}.err"  # local: the checks run on this machine
        for made in (err, self.directory / f"{name}.out"):
            made.unlink(missing_ok=True)  # (the entry: never what a link there points to)
        spec = JobSpec(
            name=f"assay-modules-{name}",
            script=PurePosixPath(script),
            workdir=PurePosixPath(self.directory),
            stdout=PurePosixPath(self.directory / f"{name}.out"),
            stderr=PurePosixPath(err),
            time_limit=120.0,
        )
        async with self.slots:
            outcome = await self.scheduler.run(spec)
        if outcome.state == JobState.COMPLETED:
            return None
        try:
            with open_job_file(err) as fh:
                message = fh.read().decode(errors="replace")
        except OSError:  # gone, or replaced by a link or a FIFO meanwhile: not read
            message = ""
        if outcome.state == JobState.TIMEOUT:
            return f"environment {name}: the module commands took longer than 120 s", message
        return reason(name, outcome.exit_code, message), message


def reason(name: str, exit_code: int | None, message: str) -> str:
    """One line: which environment, and the module system's own words (its first lines)."""
    # Control characters (a terminal escape in a modulefile's message) are shown, not sent.
    lines = [" ".join(comment(line).split()) for line in message.splitlines()]
    lines = [line for line in lines if line]
    own = [line for line in lines if not line.startswith("assay: ")]
    theirs = " ".join(own[:3]) if own else ""
    ours = next((line.removeprefix("assay: ") for line in lines if line.startswith("assay: ")), "")
    if exit_code != MODULE_FAILED and not ours:
        ours = f"the module commands exited with {exit_code}"
    return f"environment {name}: {ours or 'module commands failed'}" + (
        f": {theirs}" if theirs else ""
    )
