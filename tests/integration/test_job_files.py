"""The files shipped into jobs (the pack runner, the comparison engine): one mechanism writes
them once per session, named by their content, and both run with the standard library alone
on the oldest Python they claim."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.compare import bundle
from assay.config import Partition, PartitionRef, Slurm
from assay.schedulers import jobfiles, packrun
from assay.schedulers.base import STATUS_SUFFIX, JobOutcome, JobSpec, JobState
from assay.schedulers.batching import Waiting
from assay.schedulers.jobfiles import JobFiles
from assay.schedulers.packing import Packer
from assay.schedulers.slurm import SlurmScheduler
from assay.store.agent import treeobj, wire
from assay.store.agent.bundle import agent_bytes
from assay.store.objects import hash_bytes
from assay.transports.local import LocalTransport
from tests.conftest import ROOT
from tests.integration.test_compare_cli import interpreters, write_case


def _scheduler(workdir: Path, files: JobFiles | None = None) -> SlurmScheduler:
    config = Partition(scheduler="slurm", slurm=Slurm())
    part = PartitionRef("ci", "debug", config)
    return SlurmScheduler(part, LocalTransport(), workdir=workdir, job_files=files)


def _files(directory: Path) -> JobFiles:
    return JobFiles(directory, LocalTransport())


def _shipped(files: JobFiles, stem: str) -> Path:
    """Ship ``stem`` as a job would need it; its path on this machine."""
    return Path(asyncio.run(files.ship(stem)))


def _compared_spec(tmp_path: Path) -> JobSpec:
    stage = tmp_path / "stage"
    return JobSpec(
        name="assay-1234abcd",
        script=stage / "run.sh",
        workdir=stage,
        stdout=stage / "out",
        stderr=stage / "err",
        compare=(str(stage / "compare.json"), str(stage / "verdict.json")),
    )


def _engine_in(footer: list[str]) -> Path:
    """The engine file the footer of a compared job runs."""
    (line,) = [line for line in footer if "-I" in line]
    return Path(line.split(" -I ", 1)[1].split()[0].strip("'"))


def test_an_engine_left_in_the_job_dir_by_another_assay_is_never_run(tmp_path: Path) -> None:
    # A resumed session's job dir holds what the assay that started it shipped; after an
    # upgrade, that engine is not this one.
    workdir = tmp_path / "jobs"
    workdir.mkdir()
    for stale in ("compare.pyz", "compare-0123456789abcdef.pyz"):
        (workdir / stale).write_bytes(b"an older engine")
    scheduler = _scheduler(workdir)
    engine = _engine_in(scheduler.footer(_compared_spec(tmp_path)))
    assert scheduler.job_files is not None
    assert _shipped(scheduler.job_files, "compare") == engine  # what run() ships first
    assert engine.read_bytes() == bundle.bundle_bytes()
    assert engine.parent == workdir


def test_a_damaged_copy_under_the_right_name_is_written_again(tmp_path: Path) -> None:
    path = _shipped(_files(tmp_path), "compare")
    path.write_bytes(path.read_bytes()[:100])  # torn
    assert _shipped(_files(tmp_path), "compare") == path
    assert path.read_bytes() == bundle.bundle_bytes()


def test_each_file_is_named_by_its_content_and_written_once(tmp_path: Path) -> None:
    files = _files(tmp_path / "jobs")
    engine, runner, agent = (_shipped(files, s) for s in ("compare", "packrun", "agent"))
    assert runner.read_bytes() == Path(packrun.__file__).read_bytes()
    assert agent.read_bytes() == agent_bytes()
    shipped = ((engine, "compare", ".pyz"), (runner, "packrun", ".py"), (agent, "agent", ".py"))
    for path, stem, suffix in shipped:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        assert path.name == f"{stem}-{digest}{suffix}"
    before = [p.stat().st_ino for p in (engine, runner, agent)]
    again = tuple(_shipped(files, s) for s in ("compare", "packrun", "agent"))
    assert again == (engine, runner, agent)
    assert [p.stat().st_ino for p in (engine, runner, agent)] == before  # not written again
    assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == sorted(
        [engine.name, runner.name, agent.name]
    )


def test_the_partitions_of_a_session_share_one_copy(tmp_path: Path) -> None:
    files = _files(tmp_path / "jobs")
    first = _scheduler(tmp_path / "jobs" / "ci-debug", files)
    second = _scheduler(tmp_path / "jobs" / "ci-other", files)
    spec = _compared_spec(tmp_path)
    assert _engine_in(first.footer(spec)) == _engine_in(second.footer(spec)) == files.compare()
    assert first.packer is not None and second.packer is not None
    assert first.packer.job_files is second.packer.job_files is files
    _shipped(files, "compare")
    assert [p.name for p in (tmp_path / "jobs").glob("compare-*")] == [files.compare().name]


def test_a_pack_job_runs_the_shipped_runner_and_copies_nothing(tmp_path: Path) -> None:
    submitted: list[JobSpec] = []

    async def record(spec: JobSpec, members: list[JobSpec]) -> JobOutcome:
        submitted.append(spec)
        return JobOutcome(JobState.COMPLETED, job_id="1")

    files = _files(tmp_path / "jobs")
    packer = Packer(
        LocalTransport(),
        tmp_path / "jobs" / "packs",
        record,
        pack_time=60.0,
        cpus_per_node=2,
        nodes=1,
        python=sys.executable,
        grace=1.0,
        header=lambda s: [],
        job_files=files,
    )
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "run.sh").write_text("#!/bin/bash\necho packed\n")
    member = JobSpec("assay-c1", stage / "run.sh", stage, stage / "out", stage / "err", 10.0)

    async def pack() -> None:
        await packer.submit([Waiting(member, asyncio.get_running_loop().create_future())])

    asyncio.run(pack())
    (job,) = submitted
    script, folder = Path(job.script), Path(job.workdir)
    assert str(files.packrun()) in script.read_text()
    assert not list(folder.glob("*.py"))
    ran = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert (stage / "out").read_text() == "packed\n"
    status = json.loads(Path(str(member.stdout) + STATUS_SUFFIX).read_text())
    assert status["state"] == "COMPLETED"


# --- the standard library alone, on the oldest Python claimed --------------------------------

CLAIMS = {
    "compare": ROOT / "src" / "assay" / "compare" / "__init__.py",
    "packrun": ROOT / "src" / "assay" / "schedulers" / "packrun.py",
    "agent": ROOT / "src" / "assay" / "store" / "agent" / "__init__.py",
}


def _floor(source: Path) -> tuple[int, int]:
    """The oldest Python a shipped file's docstring promises (``any Python >= 3.N``)."""
    found = re.findall(r"any\s+Python\s+>=\s+(\d+)\.(\d+)", source.read_text())
    assert len(set(found)) == 1, f"{source} must state its Python floor once"
    major, minor = found[0]
    return int(major), int(minor)


def _lone(tmp_path: Path, what: str) -> Path:
    """The shipped file, alone in a directory of its own, as a job sees it."""
    shipped = _shipped(_files(tmp_path / "session-jobs"), what)
    folder = tmp_path / "lone"
    folder.mkdir(exist_ok=True)
    return Path(shutil.copy(shipped, folder / shipped.name))


def _manifest(tmp_path: Path) -> Path:
    cases = []
    for name, body, limit in (
        ("ok", "echo hello", 20.0),
        ("fails", "echo oops >&2; exit 4", 20.0),
        ("killed", "kill -9 $$", 20.0),
        ("slow", "sleep 30", 0.5),
    ):
        script = tmp_path / f"{name}.sh"
        script.write_text(f"#!/bin/bash\n{body}\n")
        cases.append(
            {
                "id": name,
                "script": str(script),
                "workdir": str(tmp_path),
                "stdout": str(tmp_path / f"{name}.out"),
                "stderr": str(tmp_path / f"{name}.err"),
                "status": str(tmp_path / f"{name}.status"),
                "time_limit": limit,
            }
        )
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"slots": 2, "grace": 0.5, "cases": cases}))
    return manifest


def _check_pack_ran(tmp_path: Path) -> None:
    status = {n: json.loads((tmp_path / f"{n}.status").read_text()) for n in ("ok", "fails")}
    assert (status["ok"]["state"], status["ok"]["exit_code"]) == ("COMPLETED", 0)
    assert (status["fails"]["state"], status["fails"]["exit_code"]) == ("FAILED", 4)
    killed = json.loads((tmp_path / "killed.status").read_text())
    assert (killed["state"], killed["signal"]) == ("FAILED", 9)
    assert json.loads((tmp_path / "slow.status").read_text())["state"] == "TIMEOUT"
    assert (tmp_path / "ok.out").read_text() == "hello\n"


def _run(python: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    requests = cwd.parent / "work" / "requests.bin"  # the agent's input, if it is the agent
    return subprocess.run(
        [python, *argv],
        cwd=cwd,
        env=env,
        input=requests.read_bytes().decode(errors="surrogateescape") if requests.exists() else None,
        capture_output=True,
        text=True,
        errors="surrogateescape",  # the agent answers in binary frames
        timeout=120,
        check=False,
    )


_AGENT_DATA = b"an object sent to the agent\n" * 1000


def _agent_trees() -> tuple[bytes, bytes]:
    """A tree of directory objects: the root holds ``sub/``, which holds the object."""
    sub = treeobj.encode(
        [treeobj.Item("f.txt", "f", 0o644, len(_AGENT_DATA), hash_bytes(_AGENT_DATA))]
    )
    return sub, treeobj.encode([treeobj.Item("sub", "d", 0o755, digest=hash_bytes(sub))])


def _receive(kind: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    sha = hashlib.sha256(data).hexdigest()
    header = {"op": "receive", "kind": kind, "digest": hash_bytes(data), "offset": 0}
    return {**header, "finish": {"size": len(data), "sha256": sha}}, data


def _agent_requests(work: Path) -> Path:
    """Requests that store one object and a tree of two directories, walk the tree, stage it
    into ``work/staged``, verify, and say bye."""
    digest = hash_bytes(_AGENT_DATA)
    sub, root = _agent_trees()
    frames = [
        ({"op": "hello", "create": True}, b""),
        ({"op": "missing", "objects": [["blobs", digest]]}, b""),
        _receive("blobs", _AGENT_DATA),
        ({"op": "verify"}, b""),
        _receive("trees", sub),
        _receive("trees", root),
        ({"op": "missing_in_tree", "tree": hash_bytes(root)}, b""),
        ({"op": "missing_below", "trees": [hash_bytes(root), hash_bytes(sub)]}, b""),
        ({"op": "stage", "tree": hash_bytes(root), "target": str(work / "staged")}, b""),
        ({"op": "bye"}, b""),
    ]
    data = b"".join(
        wire.encode({"id": i, **h}, payload) + payload for i, (h, payload) in enumerate(frames)
    )
    (work / "requests.bin").write_bytes(data)
    return work / "store"


def _agent_answers(output: bytes) -> list[dict[str, Any]]:
    stream = io.BytesIO(output)
    answers = []
    while (frame := wire.read_frame(stream)) is not None:
        answers.append(frame[0])
    return answers


def _work(tmp_path: Path, what: str) -> tuple[list[str], Path]:
    """The arguments that make a shipped file do real work, and where that work is."""
    work = tmp_path / "work"
    work.mkdir()
    if what == "packrun":
        return [str(_manifest(work))], work
    if what == "agent":
        return ["--root", str(_agent_requests(work))], work
    return [str(write_case(work, "1.1"))], work


def _check_work(what: str, proc: subprocess.CompletedProcess[str], work: Path) -> None:
    if what == "packrun":
        assert proc.returncode == 0, proc.stderr
        _check_pack_ran(work)
    elif what == "agent":
        assert proc.returncode == 0, proc.stderr
        answers = _agent_answers(proc.stdout.encode(errors="surrogateescape"))
        assert [a["ok"] for a in answers] == [True] * 10, answers
        assert answers[2]["result"] == {"held": len(_AGENT_DATA), "published": True}
        verified = answers[3]["result"]
        assert (verified["checked"], verified["unchecked"], verified["corrupt"]) == (1, 0, [])
        digest = hash_bytes(_AGENT_DATA)
        stored = work / "store" / "objects" / "blobs" / digest[:2] / digest[2:]
        assert stored.read_bytes() == _AGENT_DATA
        assert answers[6]["result"] == []  # the walk through both directory objects
        assert answers[7]["result"] == []  # what they name, one level each
        assert (work / "staged" / "sub" / "f.txt").read_bytes() == _AGENT_DATA
    else:
        assert proc.returncode == 1, proc.stderr  # the values differ
        verdict = json.loads(proc.stdout)
        assert [f["max_rel_error"] for f in verdict["files"]] == [
            pytest.approx(0.1),
            pytest.approx(0.1),
        ]


# Runs a shipped file as ``python FILE ARGS`` does, then writes the modules it imported.
_RUN_AND_LIST_MODULES = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize(
    ("what", "module"),
    [
        ("packrun", "subprocess"),
        ("compare", "assay_compare.engine"),
        ("agent", "assay_agent.uploads"),
    ],
)
def test_a_shipped_file_imports_only_the_standard_library(
    tmp_path: Path, what: str, module: str
) -> None:
    lone = _lone(tmp_path, what)
    # Control: -I (no script dir, no environment) and -S (no site-packages): assay cannot be
    # imported, nor anything else that is not part of Python.
    control = _run(sys.executable, ["-I", "-S", "-c", "import assay"], lone.parent)
    assert control.returncode == 1 and "No module named 'assay'" in control.stderr
    argv, work = _work(tmp_path, what)
    listed = tmp_path / "modules.json"
    command = ["-I", "-S", "-c", _RUN_AND_LIST_MODULES, str(listed), str(lone), *argv]
    _check_work(what, _run(sys.executable, command, lone.parent), work)
    imported = json.loads(listed.read_text())
    assert module in imported  # the control: it did its work
    allowed = {*sys.stdlib_module_names, "__main__", "assay_compare", "assay_agent"}
    outside = [m for m in imported if m.split(".")[0] not in allowed]
    assert outside == []


@pytest.mark.parametrize("what", ["packrun", "compare", "agent"])
def test_a_shipped_file_runs_on_the_oldest_python_it_claims(tmp_path: Path, what: str) -> None:
    floor = _floor(CLAIMS[what])
    python = interpreters().get(floor)
    if python is None:
        message = f"no Python {floor[0]}.{floor[1]} here (pyenv install {floor[0]}.{floor[1]})"
        if os.environ.get("ASSAY_REQUIRE_FLOOR_PYTHON") == "1":
            pytest.fail(f"ASSAY_REQUIRE_FLOOR_PYTHON=1 but {message}")
        pytest.skip(message)
    lone = _lone(tmp_path, what)
    argv, work = _work(tmp_path, what)
    _check_work(what, _run(python, ["-I", "-S", str(lone), *argv], lone.parent), work)


def test_the_floor_is_the_same_for_both_and_packrun_is_linted_for_it() -> None:
    assert _floor(CLAIMS["packrun"]) == _floor(CLAIMS["compare"]) == _floor(CLAIMS["agent"])
    assert _floor(CLAIMS["agent"]) == (3, 7)
    agent_lint = CLAIMS["agent"].parent / "ruff.toml"
    assert 'target-version = "py37"' in agent_lint.read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"src/assay/schedulers/packrun.py" = "py37"' in pyproject
    assert 'target-version = "py37"' in (CLAIMS["compare"].parent / "ruff.toml").read_text()
    assert Path(packrun.__file__) == jobfiles.PACKRUN_SOURCE
