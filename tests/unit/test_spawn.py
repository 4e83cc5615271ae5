"""Job processes started with posix_spawn get what Popen gave them (real processes)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import stat
from pathlib import Path, PurePosixPath

import pytest

from assay.transports import spawn
from assay.transports.contain import TOKEN
from assay.transports.local import LocalTransport

SPAWNER = spawn.spawner()
needs_spawner = pytest.mark.skipif(SPAWNER is None, reason="no glibc posix_spawn with chdir")


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _run(tmp_path: Path, script: str, env: list[bytes] | None = None) -> tuple[int, str, str]:
    assert SPAWNER is not None
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    out, err = tmp_path / "out", tmp_path / "err"
    pid = SPAWNER.spawn(
        "/bin/sh",
        ["sh", "-c", script],
        env if env is not None else [b"PATH=/usr/bin:/bin", b"MARK=x y"],
        cwd=str(work),
        stdout=str(out),
        stderr=str(err),
    )
    return _wait(pid), out.read_text(), err.read_text()


@needs_spawner
def test_the_child_runs_in_its_directory_in_a_session_of_its_own_with_its_environment(tmp_path):
    script = 'pwd; echo "$0 $MARK"; env | grep -c .; ps -o sid= -p $$; echo $$; echo e >&2'
    code, out, err = _run(tmp_path, script)
    lines = out.splitlines()
    assert code == 0 and err == "e\n"
    assert lines[0] == str(tmp_path / "work")
    assert lines[1] == "sh x y"
    # Only what was given (sh adds PWD, and on some systems OLDPWD/SHLVL/_).
    assert int(lines[2]) <= 6
    assert lines[3].strip() == lines[4]  # leads its session


@needs_spawner
def test_standard_input_is_dev_null_and_outputs_are_created_0644_and_truncated(tmp_path):
    (tmp_path / "out").write_text("old contents, longer than the new\n")
    code, out, _ = _run(tmp_path, "cat; echo new")
    assert code == 0 and out == "new\n"
    mode = stat.S_IMODE((tmp_path / "err").stat().st_mode)
    assert mode == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@needs_spawner
def test_signals_python_ignores_are_back_to_their_default_in_the_child(tmp_path):
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # as Python sets it up
    code, out, _ = _run(tmp_path, "grep SigIgn /proc/self/status")
    ignored = int(out.split()[1], 16)
    assert code == 0
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


@needs_spawner
def test_no_descriptor_of_the_runner_reaches_the_child_not_even_an_inheritable_one(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    # The lowest free number from 57 up: a fixed number (dup2 onto 57) would close what
    # another part of this worker had open there, and that part's own close would then
    # close this test's descriptor (the EBADF a CI run once showed).
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 57)
    os.set_inheritable(high, True)
    try:
        code, out, _ = _run(tmp_path, "ls /proc/$$/fd")
    finally:
        os.close(high)
        os.close(fd)
    assert code == 0
    assert sorted(int(n) for n in out.split()) == [0, 1, 2]


@needs_spawner
def test_what_cannot_start_fails_as_popen_fails(tmp_path):
    assert SPAWNER is not None
    out, err = str(tmp_path / "o"), str(tmp_path / "e")
    with pytest.raises(FileNotFoundError) as raised:
        SPAWNER.spawn("/no/such/program", ["x"], [], cwd=str(tmp_path), stdout=out, stderr=err)
    assert raised.value.filename == "/no/such/program"
    with pytest.raises(FileNotFoundError) as raised:
        SPAWNER.spawn("/bin/true", ["true"], [], cwd=str(tmp_path / "gone"), stdout=out, stderr=err)
    assert raised.value.filename == str(tmp_path / "gone")  # the directory, as Popen names it
    lost = str(tmp_path / "no-dir" / "o")
    with pytest.raises(FileNotFoundError) as raised:
        SPAWNER.spawn("/bin/true", ["true"], [], cwd=str(tmp_path), stdout=lost, stderr=err)
    assert raised.value.filename == lost
    not_exec = tmp_path / "plain"
    not_exec.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        SPAWNER.spawn(str(not_exec), ["plain"], [], cwd=str(tmp_path), stdout=out, stderr=err)
    with pytest.raises(ValueError, match="null byte"):
        SPAWNER.spawn("/bin/true", ["true"], [b"A=\0"], cwd=str(tmp_path), stdout=out, stderr=err)
    with pytest.raises(ValueError, match="null byte"):
        SPAWNER.spawn("/bin/true", ["tr\0ue"], [], cwd=str(tmp_path), stdout=out, stderr=err)
    with pytest.raises(ValueError, match="illegal environment variable name"):
        spawn.environment({b"A=B": b"1"})


def _transport_run(tmp_path: Path, argv: list[str], **kw: object) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        transport = LocalTransport()
        proc = transport.start(
            argv,
            cwd=PurePosixPath(tmp_path),
            stdout=PurePosixPath(tmp_path / "o"),
            stderr=PurePosixPath(tmp_path / "e"),
            **kw,  # type: ignore[arg-type]
        )
        code = await proc.wait()
        await transport.end(proc)
        assert not transport.live
        return code, (tmp_path / "o").read_text()

    return asyncio.run(go())


SHOW = 'echo "$0|$PWD|${ASSAY_CASE_TOKEN:+token}|${ONLY:-}"; exit 3'


def test_a_job_process_gets_its_name_token_directory_and_exit_status(tmp_path):
    # Through posix_spawn where the C library can (a path as argv[0], or executable=),
    # through Popen for a word to look up on $PATH: the same process either way.
    runs = [
        _transport_run(tmp_path, ["/bin/sh", "-c", SHOW]),
        _transport_run(tmp_path, ["named", "-c", SHOW], executable="/bin/sh"),
        _transport_run(tmp_path, ["sh", "-c", SHOW]),
    ]
    assert runs == [(3, f"{name}|{tmp_path}|token|\n") for name in ("/bin/sh", "named", "sh")]
    env = {"ONLY": "this", "PATH": os.environ["PATH"]}
    assert _transport_run(tmp_path, ["/bin/sh", "-c", SHOW], env=env)[1].endswith("|token|this\n")


def test_a_job_killed_by_a_signal_reports_it_as_popen_did(tmp_path):
    assert _transport_run(tmp_path, ["/bin/sh", "-c", "kill -9 $$"])[0] == -signal.SIGKILL


def test_without_posix_spawn_jobs_start_through_popen_the_same(tmp_path, monkeypatch):
    # Injected fault: a C library without posix_spawn's chdir (older glibc, musl < 1.1.24).
    monkeypatch.setattr(spawn, "spawner", lambda: None)
    assert _transport_run(tmp_path, ["named", "-c", SHOW], executable="/bin/sh") == (
        3,
        f"named|{tmp_path}|token|\n",
    )
    assert TOKEN == "ASSAY_CASE_TOKEN"


def test_a_script_is_written_as_write_text_writes_it(tmp_path):
    from assay.run import scripts

    text = "#!/bin/bash\necho 'héllo ✓'\n" * 3000  # more than one write's worth
    scripts.write(tmp_path / "mine.sh", text)
    (tmp_path / "theirs.sh").write_text(text)
    mine, theirs = (tmp_path / "mine.sh").stat(), (tmp_path / "theirs.sh").stat()
    assert (tmp_path / "mine.sh").read_bytes() == (tmp_path / "theirs.sh").read_bytes()
    assert stat.S_IMODE(mine.st_mode) == stat.S_IMODE(theirs.st_mode) == 0o666 & ~_umask()
    scripts.write(tmp_path / "mine.sh", "short\n")  # an old script is replaced
    assert (tmp_path / "mine.sh").read_text() == "short\n"


def test_each_job_gets_the_runners_environment_as_it_is_when_the_job_starts(tmp_path, monkeypatch):
    # The encoded environment is kept between jobs: a variable set or removed in between
    # (by a hook, say) must still reach the next job, or leave it.
    monkeypatch.delenv("ASSAY_SPAWN_PROBE", raising=False)

    async def go() -> list[str]:
        transport = LocalTransport()
        seen = []
        for step in ("before", "set", "changed", "removed"):
            if step == "set":
                os.environ["ASSAY_SPAWN_PROBE"] = "one"
            elif step == "changed":
                os.environ["ASSAY_SPAWN_PROBE"] = "two"
            elif step == "removed":
                del os.environ["ASSAY_SPAWN_PROBE"]
            out = tmp_path / f"{step}.out"
            proc = transport.start(
                ["/bin/sh", "-c", 'echo "${ASSAY_SPAWN_PROBE-unset}"'],
                cwd=PurePosixPath(tmp_path),
                stdout=PurePosixPath(out),
                stderr=PurePosixPath(tmp_path / "e"),
            )
            assert await proc.wait() == 0
            await transport.end(proc)
            seen.append(out.read_text().strip())
        return seen

    assert asyncio.run(go()) == ["unset", "one", "two", "unset"]


def test_a_cancelled_wait_leaves_the_process_to_other_waiters(tmp_path):
    # A waiter cancelled (a time limit, an interrupt) must not end the process's own wait:
    # terminate() waits again, and every waiter gets the exit status; by the time a waiter
    # resumes, the transport no longer counts the process as live.
    async def go() -> tuple[list[int], int, bool]:
        transport = LocalTransport()
        proc = transport.start(
            ["/bin/sh", "-c", "exec sleep 30"],
            cwd=PurePosixPath(tmp_path),
            stdout=PurePosixPath(tmp_path / "o"),
            stderr=PurePosixPath(tmp_path / "e"),
        )
        cancelled = asyncio.ensure_future(proc.wait())
        waiters = [asyncio.ensure_future(proc.wait()) for _ in range(2)]
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert proc.returncode is None
        live_when_resumed = []

        async def watch() -> int:
            code = await proc.wait()
            live_when_resumed.append(proc in transport.live)
            return code

        watcher = asyncio.ensure_future(watch())
        proc.signal_group(signal.SIGTERM)
        codes = [await w for w in waiters]
        after = await proc.wait()  # once it ended: the status at once
        await watcher
        await transport.end(proc)
        return [*codes, after], proc.returncode or 0, any(live_when_resumed)

    codes, returncode, live = asyncio.run(go())
    assert codes == [-signal.SIGTERM] * 3
    assert returncode == -signal.SIGTERM
    assert not live


@needs_spawner
def test_paths_that_are_not_utf8_reach_the_child_as_the_same_bytes(tmp_path):
    # A name with a byte that is not UTF-8 is a str with a surrogate escape in Python;
    # the child must get the very bytes of the directory and files (as os.fsencode gives).
    assert SPAWNER is not None
    raw = os.fsencode(tmp_path) + b"/d\xff\xe9"
    os.mkdir(raw)
    where = os.fsdecode(raw)
    pid = SPAWNER.spawn(
        "/bin/sh",
        ["sh", "-c", 'pwd; printf %s "$1"', "sh", os.fsdecode(b"arg\xfe")],
        [b"PATH=/usr/bin:/bin"],
        cwd=where,
        stdout=os.fsdecode(raw + b"/o\xfa"),
        stderr=os.fsdecode(raw + b"/e"),
    )
    assert _wait(pid) == 0
    with open(raw + b"/o\xfa", "rb") as fh:
        assert fh.read() == raw + b"\narg\xfe"


@needs_spawner
def test_an_environment_given_again_with_other_extras_reaches_each_child_as_given(tmp_path):
    # The spawner keeps the C array of an environment given as a tuple between starts; each
    # child still gets that environment with its own extra entries, and a new tuple (the
    # runner's environment changed) replaces it, checked for NUL bytes as any other.
    assert SPAWNER is not None
    base = (b"PATH=/usr/bin:/bin", b"MARK=one")
    seen = []
    for env, extra in [
        (base, (b"TOKEN=a",)),
        (base, (b"TOKEN=b", b"MORE=m")),
        ((b"PATH=/usr/bin:/bin", b"MARK=two"), (b"TOKEN=c",)),
        (base, ()),
    ]:
        out = tmp_path / f"out-{len(seen)}"
        pid = SPAWNER.spawn(
            "/bin/sh",
            ["sh", "-c", 'echo "$MARK ${TOKEN-none} ${MORE-none}"'],
            env,
            cwd=str(tmp_path),
            stdout=str(out),
            stderr=str(tmp_path / "err"),
            extra=extra,
        )
        assert _wait(pid) == 0
        seen.append(out.read_text().strip())
    assert seen == ["one a none", "one b m", "two c none", "one none none"]
    for env, extra in [((b"A=\0",), ()), (base, (b"T=\0",))]:
        with pytest.raises(ValueError, match="null byte"):
            SPAWNER.spawn(
                "/bin/true", ["true"], env, cwd=str(tmp_path), stdout=str(out),
                stderr=str(out), extra=extra,
            )  # fmt: skip
