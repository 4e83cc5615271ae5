"""Job scripts written with hostile values (newlines, carriage returns, ``$(...)``,
backticks, quotes, ``#SBATCH`` inside a value, ``%`` patterns, backslashes, very long
values) in paths, names, variables and commands: sbatch must read exactly the directives
written, all before the first command, and the script run by hand with bash must do what
it says and run nothing a value holds. sbatch's reading of a script is ported from Slurm
22.05 (src/sbatch/opt.c) below, as the oracle; the real sbatch reads them in
tests/slurm/test_hostile_values.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from assay import shell
from assay.config import BUILTIN_ENVIRONMENT, Partition, PartitionRef, Slurm
from assay.run import scripts
from assay.schedulers.arrays import Arrays
from assay.schedulers.base import STATUS_SUFFIX, JobOutcome, JobSpec, JobState
from assay.schedulers.batching import Waiting
from assay.schedulers.jobscript import ScriptError, compose, directive, sbatch_word
from assay.schedulers.packing import Packer
from assay.schedulers.slurm import SlurmScheduler, slurm_filename
from assay.transports.local import LocalTransport

MARK = "PWNED"
VALUES = [
    "plain",
    "two words",
    "nl\nx",
    f"x\ntouch {MARK}\n#",
    "cr\rx",
    "crlf\r\nx",
    f"$(touch {MARK})",
    f"`touch {MARK}`",
    'it\'s "quoted"',
    "#SBATCH --wrap=touch PWNED",
    f"a\n#SBATCH --wrap='touch {MARK}'\n",
    "%j %x %% %",
    "back\\slash \\n",
    "ünïcødé ✓",
    "long " + "x" * 20000,
]
PATH_VALUES = [v for v in VALUES if len(v) < 200]  # a file name has at most 255 bytes


# --- the oracle: how sbatch 22.05 reads a script's directives ------------------------------


def sbatch_reads(text: str) -> list[list[str]]:
    """The option words sbatch takes from each directive line (``_opt_batch_script``)."""
    found = []
    for line in text.split("\n"):
        if line.startswith("#SBATCH"):
            found.append(get_argument_all(line[len("#SBATCH") :]))
        elif line.startswith("#SLURM"):
            found.append(get_argument_all(line[len("#SLURM") :]))
        else:
            rest = line.lstrip(" \t\n\v\f\r")
            if rest and not rest.startswith("#"):
                break
    return found


def get_argument_all(line: str) -> list[str]:
    """``get_argument`` applied until the line is used up."""
    words = []
    pos = 0
    while True:
        while pos < len(line) and line[pos] in " \t\n\v\f\r":
            pos += 1
        if pos >= len(line):
            return words
        word, quoted, escape, q = [], False, False, ""
        while pos < len(line) and (quoted or line[pos] not in " \t\n\v\f\r"):
            c = line[pos]
            if escape:
                escape = False
            elif c == "\\":
                escape, pos = True, pos + 1
                continue
            elif quoted:
                if c == q:
                    quoted, pos = False, pos + 1
                    continue
            elif c in "\"'":
                quoted, q, pos = True, c, pos + 1
                continue
            elif c == "#":
                return [*words, "".join(word)] if word else words
            word.append(c)
            pos += 1
        assert not quoted, f"sbatch: unmatched {q} in {line!r}"
        words.append("".join(word))


@pytest.mark.parametrize("value", VALUES)
def test_a_directive_word_reads_back_as_exactly_the_value_or_is_refused(value: str) -> None:
    if shell.CONTROL.search(value):
        with pytest.raises(ScriptError, match=r"control character .* no #SBATCH line"):
            directive("comment", value, what="[x] comment")
        return
    line = directive("comment", value)
    assert sbatch_reads(line + "\ntrue\n") == [[f"--comment={value}"]]


def test_an_option_that_smuggles_a_second_one_stays_one_word() -> None:
    for text in ["--account=x --wrap=touch M", "--account=x' --wrap='touch M", 'x" --wrap="y']:
        assert sbatch_reads(f"#SBATCH {sbatch_word(text, 'o')}\n") == [[text]]


# --- whole scripts with hostile values ----------------------------------------------------


def _scheduler(tmp_path: Path, **slurm: object) -> SlurmScheduler:
    config = Partition(scheduler="slurm", slurm=Slurm(**slurm))  # type: ignore[arg-type]
    return SlurmScheduler(
        PartitionRef("ci", "debug", config), LocalTransport(), workdir=tmp_path / "jobs"
    )


def _case_script(stage: Path, value: str, scheduler: SlurmScheduler) -> tuple[JobSpec, str]:
    """The run script of a case whose name, directory, variable and command hold ``value``."""
    stage.mkdir(parents=True)
    spec = JobSpec(
        name="assay-1234abcd",
        script=stage / scripts.RUN_SCRIPT,
        workdir=stage,
        stdout=stage / scripts.RUN_OUT,
        stderr=stage / scripts.RUN_ERR,
        time_limit=60,
    )
    partition = Partition(scheduler="slurm", variables={"PART_V": value})
    text = scripts.run_script(
        f"T[v={value}] @ci:debug+builtin",
        scheduler.header(spec),
        stage,
        BUILTIN_ENVIRONMENT,
        partition,
        {"V": value},
        [f"printf %s {shell.quote(value)} > pre.txt"],
        f'printf %s {shell.quote(value)}; printf %s "$V" > env.txt; printf %s "$PART_V" > p.txt',
        [],
        scheduler.footer(spec),
    )
    return spec, text


def _run_by_hand(script: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["bash", str(script)],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", VALUES)
def test_a_run_script_with_a_hostile_value_reads_as_written_and_runs_nothing_else(
    value: str, tmp_path: Path
) -> None:
    scheduler = _scheduler(tmp_path)
    name = value if value in PATH_VALUES else "long"
    stage = tmp_path / f"stage {name.replace('/', '_')}"
    spec, text = _case_script(stage, value, scheduler)
    assert [w for line in sbatch_reads(text) for w in line] == [
        w for line in sbatch_reads("\n".join(scheduler.directives(spec))) for w in line
    ]
    lines = text.split("\n")
    assert shell.CONTROL.search(text.replace("\n", "")) is None  # values never split a line
    first_command = next(i for i, ln in enumerate(lines[1:], 1) if not ln.startswith("#"))
    assert not any(ln.startswith("#SBATCH") for ln in lines[first_command:])
    spec.script.write_text(text)
    ran = _run_by_hand(spec.script, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.decode() == value
    for written in ("pre.txt", "env.txt", "p.txt"):
        assert (stage / written).read_bytes().decode() == value
    status = json.loads(Path(str(spec.stdout) + STATUS_SUFFIX).read_text())
    assert status["exit_code"] == 0
    assert not list(tmp_path.rglob(MARK)) and not Path(MARK).exists()


def test_the_submission_comment_names_the_sbatch_command_to_run_it_by_hand(
    tmp_path: Path,
) -> None:
    scheduler = _scheduler(tmp_path)
    spec, text = _case_script(tmp_path / "d\n$(touch PWNED) %j", "v", scheduler)
    (line,) = [ln for ln in text.split("\n") if ln.startswith("# submitted as: ")]
    words = line.removeprefix("# submitted as: ").removesuffix(" (with a --job-name of its own)")
    echoed = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True, check=True
    ).stdout.decode()
    assert echoed.split("\0")[:-1] == ["sbatch", *scheduler.job_options(spec), str(spec.script)]
    assert not list(tmp_path.rglob(MARK))


def test_a_nul_in_a_value_fails_the_script_not_truncates_it(tmp_path: Path) -> None:
    partition = Partition()
    with pytest.raises(shell.UnsafeValue, match="variable V: a NUL character"):
        scripts.run_script(
            "T", [], tmp_path, BUILTIN_ENVIRONMENT, partition, {"V": "a\0b"}, [], "true", []
        )
    with pytest.raises(shell.UnsafeValue, match="a NUL character"):
        shell.quote("a\0b")


def test_compose_refuses_a_directive_after_a_command_and_text_read_as_one() -> None:
    with pytest.raises(ScriptError, match="comes after a command"):
        compose(["#!/bin/bash", "true", "#SBATCH --nodes=1"])
    with pytest.raises(ScriptError, match="would be read as a directive"):
        compose(["#!/bin/bash", "#SBATCH --nodes=1", "# name: x\n#SBATCH --wrap=y", "true"])
    with pytest.raises(ScriptError, match="Windows line ending"):
        compose(["#!/bin/bash", "#SBATCH --nodes=1", "true\r\nfalse"])
    assert compose(["#!/bin/bash", "#SBATCH --nodes=1", "cat <<x\n#SBATCH y\nx"]).endswith("x\n")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p/50%/x %j.out", "/p/50%%/x %%j.out"),
        ("/p/a\\b%j/out", "/p/a\\\\b%j/out"),  # a backslash turns every pattern off
        ("/p/nl\n/out", "/p/nl\n/out"),  # an argument: a newline is fine
    ],
)
def test_output_paths_are_written_so_slurm_expands_no_pattern_in_them(
    path: str, expected: str
) -> None:
    assert slurm_filename(Path(path)) == expected


def test_an_array_output_pattern_stays_a_pattern_under_a_literal_directory() -> None:
    assert slurm_filename(Path("/p/50%/task-%a.out"), pattern=True) == "/p/50%%/task-%a.out"
    with pytest.raises(ScriptError, match="pattern cannot be used under a backslash"):
        slurm_filename(Path("/p/a\\b/task-%a.out"), pattern=True)


# --- packs and arrays of hostile cases, run by hand ---------------------------------------


def _hostile_cases(tmp_path: Path, scheduler: SlurmScheduler) -> list[tuple[JobSpec, str]]:
    cases = []
    for index, value in enumerate(PATH_VALUES):
        stage = tmp_path / "stage" / f"{index} {value.replace('/', '_')}"
        spec, text = _case_script(stage, value, scheduler)
        spec = dataclasses.replace(spec, name=f"{spec.name}{index}", time_limit=30.0)
        spec.script.write_text(text)
        cases.append((spec, value))
    return cases


def test_a_pack_of_hostile_cases_runs_by_hand_as_written(tmp_path: Path) -> None:
    scheduler = _scheduler(tmp_path)
    cases = _hostile_cases(tmp_path, scheduler)
    submitted: list[JobSpec] = []

    async def submit_recorder(spec: JobSpec, members: list[JobSpec]) -> JobOutcome:
        submitted.append(spec)
        return JobOutcome(JobState.COMPLETED, job_id="1")

    packer = Packer(
        LocalTransport(),
        tmp_path / "packs\n$(touch PWNED) %j",
        submit_recorder,
        pack_time=3600,
        cpus_per_node=4,
        nodes=1,
        python="python3",
        grace=1.0,
        header=scheduler.directives,
    )

    async def pack() -> None:
        loop = asyncio.get_running_loop()
        members = [Waiting(s, loop.create_future()) for s, _ in cases]
        await packer.submit(members)

    asyncio.run(pack())
    (pack_spec,) = submitted
    text = pack_spec.script.read_text()
    assert len(sbatch_reads(text)) == len(scheduler.directives(pack_spec))
    ran = _run_by_hand(pack_spec.script, tmp_path)
    assert ran.returncode == 0, ran.stderr
    for spec, value in cases:
        assert spec.stdout.read_bytes().decode() == value
        status = json.loads(Path(str(spec.stdout) + STATUS_SUFFIX).read_text())
        assert status["state"] == "COMPLETED"
    assert not list(tmp_path.rglob(MARK))


def test_an_array_of_hostile_cases_runs_by_hand_as_written(tmp_path: Path) -> None:
    scheduler = _scheduler(tmp_path)
    cases = _hostile_cases(tmp_path, scheduler)
    submitted: list[JobSpec] = []

    async def run_single_unused(spec: JobSpec) -> JobOutcome:
        raise AssertionError("alike cases go as one array")

    async def submit_array_recorder(spec: JobSpec, members: list[Waiting]) -> None:
        submitted.append(spec)

    arrays = Arrays(
        LocalTransport(),
        tmp_path / "arrays %x",
        run_single_unused,
        submit_array_recorder,
        scheduler.directives,
        max_parallel=2,
    )

    async def array() -> None:
        loop = asyncio.get_running_loop()
        await arrays.submit([Waiting(s, loop.create_future()) for s, _ in cases])

    asyncio.run(array())
    (array_spec,) = submitted
    text = array_spec.script.read_text()
    assert sbatch_reads(text)[-1] == [f"--array=0-{len(cases) - 1}%2"]
    assert slurm_filename(array_spec.stdout, array_spec.output_pattern).endswith(
        "/arrays %%x/array-0001/task-%a.out"
    )
    for index, (spec, value) in enumerate(cases):
        ran = _run_by_hand(array_spec.script, tmp_path, SLURM_ARRAY_TASK_ID=str(index))
        assert ran.returncode == 0, ran.stderr
        assert spec.stdout.read_bytes().decode() == value
    assert not list(tmp_path.rglob(MARK))
