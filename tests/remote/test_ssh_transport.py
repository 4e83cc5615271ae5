"""The SSH transport against the real sshd: commands, jobs and files over one connection,
the connection cut and made again, strict host keys, the user's ssh config."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import pytest

from assay.config import Ssh
from assay.transports.base import TransportError
from assay.transports.ssh import SshTransport
from tests.remote.conftest import SshServer, processes_below

T = TypeVar("T")


def run(work: Callable[[], Awaitable[T]], limit: float = 120) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(limit):
            return await work()

    return asyncio.run(bounded())


def transport(sshd: SshServer, workdir: str, **extra: Any) -> SshTransport:
    return SshTransport(sshd.settings(workdir, **extra), session=f"t{os.getpid()}{time.time()}")


def cut_connection(t: SshTransport) -> int:
    """Kill the sshd session process of ``t``'s connection (the parent of its agent's
    connector, which runs ``hostagent ... connect NAME``); its pid."""
    mark = f"connect {t.agent_name} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if mark not in Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" "):
                continue
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if Path(f"/proc/{parent}/cmdline").read_bytes().startswith(b"sshd"):
                os.kill(parent, signal.SIGKILL)
                return parent
        except (OSError, IndexError, ValueError):
            continue
    raise AssertionError(f"no sshd session runs the agent {t.agent_name}")


# --- commands, jobs, files ----------------------------------------------------------------


def test_commands_jobs_and_files_share_one_connection_and_two_channels(
    sshd: SshServer, workdir: str
) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        # The agent's channel and SFTP's; a first start in a new workdir has one more (the
        # agent started before it was there, shipped, started again).
        opened = t.channels
        assert opened == 3
        try:
            assert t.uid == os.stat(sshd.home).st_uid  # the remote account, not root
            base = t.path(workdir) / "w"
            await t.mkdir(base)
            result = await t.run(
                ["bash", "-c", 'echo "$X in $PWD"; echo err >&2; exit 3'],
                env={"X": "a b"},
                cwd=base,
            )
            assert (result.code, result.stdout, result.stderr) == (3, f"a b in {base}\n", "err\n")
            missing = await t.run(["no-such-command-here"])
            assert missing.code == 127 and "no-such-command-here" in missing.stderr
            results = await asyncio.gather(*(t.run(["echo", str(i)]) for i in range(100)))
            assert [r.stdout for r in results] == [f"{i}\n" for i in range(100)]
            await t.write_bytes(base / "job.sh", b"echo out; echo err >&2; exit 4\n")
            job = await t.spawn(
                ["/bin/bash", str(base / "job.sh")], cwd=base, stdout=base / "o", stderr=base / "e"
            )
            assert await job.wait() == 4
            await t.end(job)
            assert await t.read_bytes(base / "o") == b"out\n"
            assert await t.read_bytes(base / "e", limit=2) == b"r\n"
            killed = await t.spawn(
                ["/bin/bash", "-c", "kill -9 $$"], cwd=base, stdout=base / "o2", stderr=base / "e2"
            )
            assert await killed.wait() == -9
            await t.end(killed)
            await t.rename(base / "o", base / "o3")
            assert sorted(await t.files_below(base)) == ["e", "e2", "job.sh", "o2", "o3"]
            with pytest.raises(FileNotFoundError):
                await t.read_bytes(base / "o")
            await t.remove(base)
            assert not (sshd.home / workdir / "w").exists()
            assert (t.connections, t.channels) == (1, opened)  # none per command or job
        finally:
            await t.close()

    run(work)


def test_a_job_ending_kills_its_group_and_what_left_it(sshd: SshServer, workdir: str) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir)
            await t.mkdir(base)
            # One child stays in the group, one leaves it (setsid) and would outlive it.
            script = "sleep 300 & setsid sleep 301 & echo started; sleep 0.5"
            job = await t.spawn(
                ["/bin/bash", "-c", script], cwd=base, stdout=base / "o", stderr=base / "e"
            )
            assert await job.wait() == 0
            # The agent killed both before it said the job ended (as end() does here): no
            # request per job is needed for it, and none is made.
            assert processes_below(sshd, sshd.home / workdir, agent=False) == []
            await t.end(job)
            slow = await t.spawn(["sleep", "300"], cwd=base, stdout=base / "o", stderr=base / "e")
            started = time.monotonic()
            assert await slow.terminate(grace=1.0) == -signal.SIGTERM
            assert time.monotonic() - started < 10
            await t.end(slow)
        finally:
            await t.close()
        assert processes_below(sshd, sshd.home / workdir) == []

    run(work)


def test_the_agent_removes_nothing_outside_the_work_directory(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    outside = sshd.home / f"{workdir}-neighbour"
    outside.mkdir()
    (outside / "keep").write_text("precious")

    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir)
            await t.mkdir(base)
            for victim in (t.home, PurePosixPath(str(outside)), base, base / ".." / outside.name):
                with pytest.raises(OSError, match="not below the work directory"):
                    await t.remove(victim)
            # A link in the work directory is removed itself, not what it points to.
            await t.run(["ln", "-s", str(outside), str(base / "link")])
            await t.remove(base / "link")
            for bad in ("../escape", "/etc/x", "a/../../escape"):
                with pytest.raises(OSError, match=r"not a relative path below|leads out"):
                    await t.write_files(base, [(bad, b"x", 0o644)])
            # Nor through a link already there, or one the same tree makes first.
            await t.run(["ln", "-s", str(outside), str(base / "out")])
            with pytest.raises(OSError, match="leads out"):
                await t.write_files(base, [("out/keep", b"overwritten", 0o644)])
        finally:
            await t.close()

    try:
        run(work)
        assert (outside / "keep").read_text() == "precious"
        assert not (sshd.home / "escape").exists()
    finally:
        (outside / "keep").unlink()
        outside.rmdir()


# --- the connection dropping ------------------------------------------------------------------


def test_a_cut_connection_comes_back_and_jobs_and_commands_are_followed_once(
    sshd: SshServer, workdir: str
) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir)
            await t.mkdir(base)
            count = base / "starts"
            job = await t.spawn(
                ["/bin/bash", "-c", f"echo job >> {count}; sleep 2; exit 5"],
                cwd=base,
                stdout=base / "o",
                stderr=base / "e",
            )
            command = asyncio.create_task(
                t.run(["bash", "-c", f"echo cmd >> {count}; sleep 2; echo done"])
            )
            await asyncio.sleep(0.7)
            cut_connection(t)
            assert await job.wait() == 5  # it ran on, and its end is known
            assert (await command).stdout == "done\n"  # answered once, not run again
            await t.end(job)
            assert sorted((await t.read_bytes(count)).decode().split()) == ["cmd", "job"]
            assert t.connections == 2
        finally:
            await t.close()

    run(work)


def test_jobs_are_killed_when_no_assay_comes_back(sshd: SshServer, workdir: str) -> None:
    # A runner that dies without a word (a laptop closed, a killed process): after
    # detach_timeout the agent kills its jobs and exits.
    program = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.remote.conftest import SshServer
        from assay.transports.ssh import SshTransport
        from pathlib import Path

        async def main():
            server = SshServer({sshd.host!r}, {sshd.port}, {sshd.user!r}, {sshd.key!r},
                               {sshd.known_hosts!r}, {sshd.config!r}, {sshd.log!r},
                               Path({str(sshd.home)!r}))
            t = SshTransport(server.settings({workdir!r}, detach_timeout=2.0), session="gone")
            await t.connect()
            base = t.path({workdir!r})
            await t.mkdir(base)
            await t.spawn(["sleep", "300"], cwd=base, stdout=base / "o", stderr=base / "e")
            print("started", flush=True)
            os._exit(9)

        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert "started" in proc.stdout, proc.stderr
    folder = sshd.home / workdir
    deadline = time.monotonic() + 20
    while processes_below(sshd, folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_below(sshd, folder) == []


def test_close_stops_every_job_and_the_agent(sshd: SshServer, workdir: str) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        base = t.path(workdir)
        await t.mkdir(base)
        await t.spawn(["sleep", "300"], cwd=base, stdout=base / "o", stderr=base / "e")
        assert processes_below(sshd, sshd.home / workdir)
        await t.close()

    run(work)
    deadline = time.monotonic() + 10
    while processes_below(sshd, sshd.home / workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_below(sshd, sshd.home / workdir) == []


# --- refusing to connect ---------------------------------------------------------------------


def _refused(settings: Ssh) -> str:
    async def work() -> str:
        t = SshTransport(settings, session="refused")
        with pytest.raises(TransportError) as caught:
            await t.connect()
        await t.close()
        return str(caught.value)

    return run(work, 60)


def test_an_unknown_host_key_is_refused_with_the_line_that_trusts_it(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    message = _refused(sshd.settings(workdir, known_hosts=str(empty)))
    host_key = Path(sshd.known_hosts).read_text().split()[1:3]  # the pinned key: type, base64
    line = f"[{sshd.host}]:{sshd.port} {host_key[0]} {host_key[1]}"
    assert "unknown" in message and "SHA256:" in message
    # The fix appends the key shown, nothing fetched again unchecked (before, the message
    # also offered `ssh-keyscan ... >> FILE`: every key a second connection offers).
    assert message.endswith(f"by adding its line to {empty}: echo '{line}' >> {empty}"), message
    assert "ssh-keyscan" not in message
    assert "\n" not in message


def test_the_command_that_trusts_an_unknown_host_key_works_without_its_directory(
    sshd: SshServer, workdir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new account has no ``~/.ssh``: the command given makes it (before, the message's
    `ssh-keyscan ... >> ~/.ssh/known_hosts` failed with "No such file or directory"), and
    the connection then succeeds."""
    home = tmp_path / "new account"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    settings = sshd.settings(workdir, known_hosts=None)
    message = _refused(settings)
    command = message.split("by adding its line to ~/.ssh/known_hosts: ", 1)[1]
    assert command.startswith("mkdir -p -m 700 ~/.ssh && echo "), command
    subprocess.run(["sh", "-c", command], check=True, env={**os.environ, "HOME": str(home)})
    assert ((home / ".ssh").stat().st_mode & 0o777) == 0o700

    async def work() -> None:
        t = SshTransport(settings, session="trusted")
        await t.connect()
        await t.close()

    run(work, 60)


def test_a_changed_host_key_is_refused_as_a_possible_interception(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    key = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    known.write_text(f"[{sshd.host}]:{sshd.port} {key}\n")
    message = _refused(sshd.settings(workdir, known_hosts=str(known)))
    assert "CHANGED" in message and "ssh-keygen -R" in message and "\n" not in message


def test_a_refused_key_names_host_user_and_key(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    message = _refused(sshd.settings(workdir, identity=str(wrong)))
    assert f"ssh {sshd.user}@{sshd.host}:{sshd.port}: authentication failed" in message
    assert f"keys tried: {wrong}" in message
    missing = _refused(sshd.settings(workdir, identity=str(tmp_path / "nope")))
    assert missing == f"identity {tmp_path / 'nope'}: no such file"


def test_an_unreachable_host_is_one_line(sshd: SshServer, workdir: str) -> None:
    with __import__("socket").socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = _refused(sshd.settings(workdir, port=port))
    assert message == f"cannot reach {sshd.user}@127.0.0.1:{port}: Connection refused"
    nowhere = _refused(sshd.settings(workdir, host="no-such-host.invalid"))
    assert nowhere.startswith("cannot reach ") and "unknown host" in nowhere


def test_a_host_without_the_python_named_is_one_line(sshd: SshServer, workdir: str) -> None:
    message = _refused(sshd.settings(workdir, python="python-not-there"))
    assert "assay's agent did not start with 'python-not-there'" in message
    assert "set ssh.python" in message and "\n" not in message


# --- the user's ssh config -------------------------------------------------------------------


def test_the_users_ssh_config_is_honoured(
    sshd: SshServer, workdir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ~/.ssh/config names the host alias, its address, port, user, key and known hosts;
    # the partition names only the alias.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(Path(sshd.config).read_text())
    monkeypatch.setenv("HOME", str(home))

    async def work() -> tuple[int, str]:
        t = SshTransport(Ssh(host="assay-ci", workdir=workdir), session="config")
        await t.connect()
        try:
            return t.uid, (await t.run(["whoami"])).stdout.strip()
        finally:
            await t.close()

    uid, user = run(work)
    assert user == sshd.user and uid == os.stat(sshd.home).st_uid
    # And a config file named in the partition, for a config kept elsewhere:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Ssh(host="assay-ci", config=sshd.config, workdir=workdir)

    async def named() -> str:
        t = SshTransport(settings, session="config2")
        await t.connect()
        try:
            return (await t.run(["whoami"])).stdout.strip()
        finally:
            await t.close()

    assert run(named) == sshd.user


# --- byte pipes ----------------------------------------------------------------------------------


def test_a_byte_pipe_runs_a_program_and_the_channel_limit_holds(
    sshd: SshServer, workdir: str
) -> None:
    echo = (
        "import sys\n"
        "for line in sys.stdin:\n"
        "    sys.stdout.write(line.upper()); sys.stdout.flush()\n"
    )

    async def work() -> None:
        t = transport(sshd, workdir, max_channels=1)
        await t.connect()
        try:
            pipe = await t.open_pipe(["python3", "-I", "-c", echo])
            pipe.write(b"hello\n")
            await pipe.drain()
            assert await pipe.read(100) == b"HELLO\n"
            second = asyncio.create_task(t.open_pipe(["python3", "-I", "-c", echo]))
            await asyncio.sleep(0.5)
            assert not second.done()  # one channel for pipes at a time
            await pipe.close()
            other = await asyncio.wait_for(second, 10)
            other.write(b"x\n")
            await other.drain()
            assert await other.read(10) == b"X\n"
            await other.close()
            failing = await t.open_pipe(["python3", "-I", "-c", "import sys; sys.exit('no luck')"])
            assert await failing.read(10) == b""
            await failing.close()
            assert failing.diagnostics() == "no luck (exit status 1)"
        finally:
            await t.close()

    run(work)


def _daemon(t: SshTransport) -> int:
    """The pid of ``t``'s agent daemon (the process of its name not run by sshd)."""
    mark = f"connect {t.agent_name} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if mark not in Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" "):
                continue
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if not Path(f"/proc/{parent}/cmdline").read_bytes().startswith(b"sshd"):
                return int(entry)
        except (OSError, IndexError, ValueError):
            continue
    raise AssertionError(f"no agent daemon {t.agent_name}")


def test_a_job_whose_agent_died_is_stopped_and_fails_with_the_reason(
    sshd: SshServer, workdir: str
) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir)
            await t.mkdir(base)
            job = await t.spawn(
                ["/bin/bash", "-c", "sleep 300 & sleep 301"],
                cwd=base,
                stdout=base / "o",
                stderr=base / "e",
            )
            os.kill(_daemon(t), signal.SIGKILL)  # out of memory, say
            with pytest.raises(TransportError, match="agent there stopped while the job ran"):
                await job.wait()
            # The new agent found the old one's pid files and stopped what they name.
            assert processes_below(sshd, sshd.home / workdir, agent=False) == []
        finally:
            await t.close()

    run(work)


def test_a_new_runner_of_the_session_ends_what_a_dead_one_left(
    sshd: SshServer, workdir: str
) -> None:
    # `assay run --resume` after a killed runner: the same session's agent still runs the
    # old jobs; the new runner (another runner id) has them stopped before anything else.
    async def work() -> None:
        dead = transport(sshd, workdir)
        await dead.connect()
        base = dead.path(workdir)
        await dead.mkdir(base)
        await dead.spawn(["sleep", "300"], cwd=base, stdout=base / "o", stderr=base / "e")
        link = dead._link
        assert link is not None
        dead._closing = True  # the runner is gone: no goodbye, no reconnection
        link.close()
        assert processes_below(sshd, sshd.home / workdir, agent=False)
        new = SshTransport(dead.settings, session=dead._session, workdirs=[workdir])
        assert new.agent_name == dead.agent_name
        await new.connect()
        try:
            assert processes_below(sshd, sshd.home / workdir, agent=False) == []
        finally:
            await new.close()

    run(work)


def test_the_agent_stops_a_job_at_its_limit_while_assay_cannot(
    sshd: SshServer, workdir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assay.transports.ssh._LIMIT_MARGIN", 0.5)

    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir)
            await t.mkdir(base)
            job = await t.spawn(
                ["sleep", "300"], cwd=base, stdout=base / "o", stderr=base / "e", time_limit=0.5
            )
            cut_connection(t)  # assay is away when the limit passes
            started = time.monotonic()
            assert await job.wait() == -signal.SIGTERM
            assert time.monotonic() - started < 30
            await t.end(job)
        finally:
            await t.close()

    run(work)


def test_a_damaged_agent_file_of_the_right_size_is_written_again(
    sshd: SshServer, workdir: str
) -> None:
    async def connect_once() -> str:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            return (await t.run(["echo", "up"])).stdout
        finally:
            await t.close()

    assert run(connect_once) == "up\n"
    (shipped,) = (sshd.home / workdir / "bin").glob("hostagent-*.pyz")
    good = shipped.read_bytes()
    shipped.write_bytes(b"#" * len(good))  # the same size, other bytes
    assert run(connect_once) == "up\n"
    assert shipped.read_bytes() == good


def test_closing_makes_no_new_connection_when_the_agent_exits(
    sshd: SshServer, workdir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent exiting at the end of a run ends its channel: that is the goodbye, not a
    # dropped connection to make again (a whole SSH handshake at the end of every run).
    from assay.transports import ssh_keep

    made: list[str] = []
    real = ssh_keep.connect_host

    async def counted(settings: Ssh) -> Any:
        made.append(settings.host)
        return await real(settings)

    monkeypatch.setattr(ssh_keep, "connect_host", counted)

    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        assert (await t.run(["echo", "up"])).stdout == "up\n"
        await t.close()
        await asyncio.sleep(0.5)  # a reconnection, had one started, would be under way
        assert t._reconnecting is None

    run(work)
    assert made == [sshd.host]


def test_an_agent_already_there_starts_without_being_looked_at_first(
    sshd: SshServer, workdir: str
) -> None:
    # The second connection starts the agent shipped by the first straight away (it checks
    # its own hash), while SFTP opens: two channels, the home from the agent's first line.
    async def connect_once() -> tuple[int, str]:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            assert (await t.run(["pwd"], cwd=t.path(workdir).parent)).stdout.strip() == str(t.home)
            return t.channels, str(t.home)
        finally:
            await t.close()

    first, home = run(connect_once)
    second, again = run(connect_once)
    assert (first, second) == (3, 2)
    assert home == again == os.path.realpath(sshd.home)


def test_the_connection_uses_aes_gcm_which_costs_less_per_packet(
    sshd: SshServer, workdir: str
) -> None:
    async def work() -> tuple[str, str]:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            assert t._link is not None
            conn = t._link.conn
            return conn.get_extra_info("send_cipher"), conn.get_extra_info("recv_cipher")
        finally:
            await t.close()

    assert run(work) == ("aes128-gcm@openssh.com", "aes128-gcm@openssh.com")
