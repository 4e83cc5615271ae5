"""The environment a direct job gets is built per job from a cached, encoded copy of the
runner's own plus the few per-case changes. What the job sees (``env -0``, a real
process) must be exactly what the whole-environment merge gave it: overrides of an
existing variable, ``_`` removed, non-UTF-8 bytes, the capability and token variables,
and a change of ``os.environ`` during the session."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pytest

from assay.schedulers.local_exec import CAPS_VARIABLE, direct_start, job_env
from assay.transports import spawn
from assay.transports.contain import TOKEN
from assay.transports.local import LocalTransport

ENV = "/usr/bin/env"
needs_env = pytest.mark.skipif(
    spawn.spawner() is None or not os.access(ENV, os.X_OK), reason="needs posix_spawn, env"
)


def _merged_as_before(variables: Mapping[str, str], workdir: Path, drop: bool) -> list[bytes]:
    """The oracle: the whole-environment merge direct_start and the transport did before."""
    env = {**os.environ, **variables}
    shlvl = env.get("SHLVL", "0")
    env.update(
        PWD=str(workdir), OLDPWD=str(workdir), SHLVL=str(int(shlvl) if shlvl.isdigit() else 0)
    )
    env.pop("_", None)
    if drop:
        env[CAPS_VARIABLE] = "dropped"
    given = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    return [k + b"=" + v for k, v in given.items()]


async def _run_job(
    transport: LocalTransport,
    tmp_path: Path,
    argv: list[str],
    env: Mapping[str, str] | None,
    exe: str | None,
) -> tuple[int, str]:
    """Start a job in ``tmp_path`` (its output in ``out`` and ``err`` there) and wait for it:
    its exit code and its token."""
    proc = transport.start(
        argv,
        cwd=tmp_path,
        stdout=PurePosixPath(tmp_path / "out"),
        stderr=tmp_path / "err",
        env=env,
        executable=exe,
    )
    return await proc.wait(), proc.token


def _job_sees(tmp_path: Path, argv: list[str], env: Mapping[str, str] | None, exe: str | None):
    code, token = asyncio.run(_run_job(LocalTransport(), tmp_path, argv, env, exe))
    assert code == 0, (tmp_path / "err").read_text()
    entries = (tmp_path / "out").read_bytes().split(b"\0")[:-1]
    token_entry = TOKEN.encode() + b"=" + token.encode()
    assert token_entry in entries
    return entries, token_entry


CASES = [
    pytest.param({}, id="none"),
    pytest.param({"HOME": "/elsewhere", "NEW_ONE": "1", "ANOTHER": "x y"}, id="override-and-new"),
    # (A test's own SHLVL or PWD keeps bash: test_direct_start_own_variables.py.)
    pytest.param({"_": "kept?"}, id="underscore-given"),
    pytest.param({"TEXT": "caf\udce9"}, id="non-utf8-value"),
]


@needs_env
@pytest.mark.parametrize("variables", CASES)
@pytest.mark.parametrize("drop", [False, True])
def test_a_direct_job_sees_the_environment_the_whole_merge_gave_it(
    tmp_path, monkeypatch, variables, drop
):
    monkeypatch.setenv("_", "/usr/bin/last-command")
    monkeypatch.setenv("SHLVL", "3")
    monkeypatch.setenv("HOME", "/root-home")
    monkeypatch.setenv("ODD_BYTES", os.fsdecode(b"\xff\xfeend"))
    monkeypatch.delenv(CAPS_VARIABLE, raising=False)
    started = direct_start(([ENV, "-0"], dict(variables)), tmp_path, drop_caps=False)
    assert started is not None
    argv, env, exe = started
    if drop:  # what the capability wrapper adds, without needing root or setpriv here
        env = job_env_with_caps(env)
    seen, token_entry = _job_sees(tmp_path, argv, env, exe)
    expected = [*_merged_as_before(variables, tmp_path, drop), token_entry]
    assert seen == expected


def job_env_with_caps(env: Mapping[str, str]) -> Mapping[str, str]:
    from assay.transports.envchanges import EnvChanges

    assert isinstance(env, EnvChanges)
    return EnvChanges({**env.changes, CAPS_VARIABLE: "dropped"})


@needs_env
def test_a_change_of_os_environ_during_the_session_reaches_the_next_job(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_SET", "before")
    transport = LocalTransport()
    seen: list[list[bytes]] = []

    async def main() -> None:
        for value in ("before", "after"):
            monkeypatch.setenv("HOOK_SET", value)
            started = direct_start(([ENV, "-0"], {"A": "1"}), tmp_path, drop_caps=False)
            assert started is not None
            argv, env, exe = started
            code, _ = await _run_job(transport, tmp_path, argv, env, exe)
            assert code == 0
            seen.append((tmp_path / "out").read_bytes().split(b"\0"))

    asyncio.run(main())
    assert b"HOOK_SET=before" in seen[0] and b"HOOK_SET=after" in seen[1]
    assert b"HOOK_SET=before" not in seen[1]


@needs_env
def test_the_bash_path_with_dropped_caps_sees_the_runners_environment_plus_the_variable(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ODD_BYTES", os.fsdecode(b"\xff\xfeend"))
    env = job_env(True)
    assert env is not None
    seen, token_entry = _job_sees(tmp_path, [ENV, "-0"], env, ENV)
    expected = [
        k + b"=" + v for k, v in {**os.environb, CAPS_VARIABLE.encode(): b"dropped"}.items()
    ]
    assert seen == [*expected, token_entry]


def test_a_variable_name_with_an_equals_sign_is_refused_as_popen_refuses_it(tmp_path):
    from assay.transports.envchanges import EnvChanges

    async def main() -> None:
        LocalTransport().start(
            [ENV],
            cwd=tmp_path,
            stdout=tmp_path / "o",
            stderr=tmp_path / "e",
            env=EnvChanges({"A=B": "1"}),
            executable=ENV,
        )

    with pytest.raises(ValueError, match="illegal environment variable name"):
        asyncio.run(main())


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("cp") is None,
    reason="needs root and setpriv",
)
def test_behind_setpriv_the_program_is_named_by_the_word_as_written_as_bash_names_it(tmp_path):
    """setpriv (util-linux) has no option to set ``argv[0]`` apart from the program: handed
    the path assay found, ``cp`` would say ``/usr/bin/cp: missing file operand`` where bash
    makes it say ``cp: ...``, and a compared stderr would differ. So setpriv gets the word
    and searches ``PATH`` itself (a few failed execve of its own, in the child)."""
    started = direct_start((["cp"], {}), tmp_path, drop_caps=True)
    assert started is not None
    argv, env, exe = started
    assert argv[-1] == "cp"

    code, _ = asyncio.run(_run_job(LocalTransport(), tmp_path, argv, env, exe))
    assert code != 0
    by_bash = subprocess.run(
        ["/bin/bash", "-c", "cp"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (tmp_path / "err").read_text() == by_bash.stderr
    assert by_bash.stderr.startswith("cp: ")
