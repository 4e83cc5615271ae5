"""Stores on the far side of a real OpenSSH server (scripts/sshd-ci: a separate account with
its own home on this machine): push and pull with the CLI, a connection cut in the middle of
a 200 MB upload, concurrent pushes, a full remote disk, damage in transit, a wrong key.

The tests need the server's settings (``eval "$(scripts/sshd-ci env)"``); without them they
are skipped, unless ASSAY_REQUIRE_SSH=1 (scripts/test-all) makes that a failure."""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import pwd
import random
import secrets
import shutil
import signal
import subprocess
import termios
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from assay.store import Store, StoreError
from assay.store.commands import size
from assay.store.remote import OpenSSHPipe, RemoteStore, agent_command, open_remote_store
from assay.store.transfer import CorruptInTransit, TransferError, TransferProgress
from assay.store.trees import stored_trees
from tests.conftest import write_tree
from tests.unit.test_store_remote import CorruptingPipeFake, snapshot

KIB, MIB = 1024, 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    config: str  # an ssh_config with the alias `assay-ci`
    user: str
    home: Path


@pytest.fixture(scope="module")
def server() -> Server:
    config = os.environ.get("ASSAY_TEST_SSH_CONFIG")
    user = os.environ.get("ASSAY_TEST_SSH_USER", "assay-remote")
    if not config or not Path(config).is_file():
        message = "no SSH server for the tests (scripts/sshd-ci up; eval its env)"
        if os.environ.get("ASSAY_REQUIRE_SSH") == "1":
            pytest.fail(f"ASSAY_REQUIRE_SSH=1 but {message}")
        pytest.skip(message)
    return Server(config, user, Path(pwd.getpwnam(user).pw_dir))


@pytest.fixture
def remote_dir(server: Server, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh directory in the remote account's home (this machine's path to it), removed
    afterwards; the remote side sees it as ``~/assay-tests/NAME``."""
    base = server.home / "assay-tests"
    folder = base / f"{request.node.name[:40]}-{secrets.token_hex(4)}"
    base.mkdir(exist_ok=True)
    shutil.chown(base, server.user, server.user)
    yield folder
    assert folder.resolve().parent == base.resolve()  # never remove a computed path elsewhere
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def remote_path(server: Server, folder: Path) -> str:
    return "~/" + str(folder.relative_to(server.home))


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def connect(server: Server, folder: Path, wrap: Any = None, **kw: Any) -> RemoteStore:
    pipe = await OpenSSHPipe.connect("assay-ci", agent_command(), config=server.config)
    return await open_remote_store(
        wrap(pipe) if wrap else pipe, root=remote_path(server, folder), where="assay-ci", **kw
    )


async def with_remote(
    server: Server, folder: Path, work: Callable[[RemoteStore], Awaitable[T]], **kw: Any
) -> T:
    remote = await connect(server, folder, **kw)
    try:
        return await work(remote)
    finally:
        await remote.close()


def stored_bytes(root: Path) -> int:
    """Bytes the remote store holds: published objects and unfinished uploads."""
    objects = sum(p.stat().st_size for p in (root / "objects").rglob("*") if p.is_file())
    return objects + sum(p.stat().st_size for p in incoming(root))


def incoming(root: Path) -> list[Path]:
    folder = root / "incoming"
    return sorted(p for p in folder.iterdir() if p.name != ".locks") if folder.is_dir() else []


def vm_hwm(pid: int) -> int:
    """The peak resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def session_process(agent_pid: int) -> int:
    """The sshd process serving the connection the agent runs under."""
    stat = Path(f"/proc/{agent_pid}/stat").read_bytes()
    parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
    name = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")[0]
    assert name.startswith(b"sshd:") and b"@notty" in name, name
    return parent


# --- the command line -------------------------------------------------------------------------


def test_push_and_pull_over_ssh_with_the_cli(server, remote_dir, tmp_path, assay_cli):
    build = write_tree(tmp_path / "build", {f"d/f{i}.txt": f"file {i}\n" * 50 for i in range(40)})
    assert assay_cli("store", "put", "solver", str(build)).code == 0
    url = f"ssh://assay-ci/{remote_path(server, remote_dir)}"

    first = assay_cli("store", "push", url, "solver", "--ssh-config", server.config)
    again = assay_cli(
        "store", "push", "assay-ci", "solver@1", "--ssh-config", server.config,
        "--remote-store", remote_path(server, remote_dir),
    )  # fmt: skip

    local = Store(tmp_path / ".store")
    tree = local.resolve("solver").tree
    trees = stored_trees(local.objects, tree)  # the root and d/
    total = sum(p.stat().st_size for p in build.rglob("*.txt")) + sum(
        len(local.objects.read_tree_bytes(t)) for t in trees
    )
    assert first.code == 0, first
    assert f"pushed solver@1 to assay-ci:{remote_dir} as solver@1 (new version)" in first.stdout
    assert len(trees) == 2 and f"sent {size(total)} (42 of 42 objects)" in first.stdout
    assert again.code == 0, again
    assert "(already there: the same tree)" in again.stdout
    # the store there holds the root: nothing below it is read, listed or sent
    root_size = size(len(local.objects.read_tree_bytes(tree)))
    assert f"sent 0 B (0 of 1 objects, {root_size} already there)" in again.stdout
    assert Store(remote_dir).resolve("solver").source_kind == "transfer"

    pulled = assay_cli(
        "store", "pull", url, "solver", "--ssh-config", server.config,
        env={"ASSAY_STORE": str(tmp_path / "other")},
    )  # fmt: skip
    assert pulled.code == 0, pulled
    assert "pulled solver@1 to the store at" in pulled.stdout
    got = assay_cli("store", "get", "solver", str(tmp_path / "got"),
                    env={"ASSAY_STORE": str(tmp_path / "other")})  # fmt: skip
    assert got.code == 0, got
    assert snapshot(tmp_path / "got") == snapshot(build)


def test_a_wrong_key_is_one_line_naming_the_host(server, tmp_path, assay_cli):
    config = tmp_path / "ssh_config"
    key = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config.write_text(
        Path(server.config).read_text().replace("IdentityFile", f"IdentityFile {key}\n#")
    )
    write_tree(tmp_path / "b", {"x": "x\n"})
    assert assay_cli("store", "put", "b", str(tmp_path / "b")).code == 0

    result = assay_cli("store", "push", "assay-ci", "b", "--ssh-config", str(config))

    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "assay-ci" in lines[0] and "Permission denied" in lines[0]


# --- faults -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str]]:
    """A 200 MB build: one file of 136 MiB (stored as chunks of about 1 MiB), eight of
    7 MiB sent after it (each one object of 28 pieces: more than the agent's 1 MiB pipe
    holds, so a cut can leave one half-way up), and a few small files. Removed after the
    module (400 MB with its store: pytest would keep it to the end of the session)."""
    folder = tmp_path_factory.mktemp("big")
    rng = random.Random(200)
    files: dict[str, str | bytes] = {f"small/{i}.txt": f"small {i}\n" for i in range(10)}
    files.update({f"zdata/{i}.bin": rng.randbytes(7 * MIB) for i in range(8)})
    write_tree(folder / "build", files)
    with open(folder / "build" / "solver.bin", "wb") as fh:
        for _ in range(136):
            fh.write(rng.randbytes(MIB))
    store = Store(folder / "store")
    yield store, store.put("big", folder / "build").version.tree
    assert folder.parent == tmp_path_factory.getbasetemp()  # only ever pytest's own dir
    shutil.rmtree(folder, ignore_errors=True)


def bytes_waiting(pid: int) -> int:
    """Bytes waiting in the stdin pipe of process ``pid`` (its whole size, 1 MiB, if that
    cannot be read: then only a larger remainder counts)."""
    try:
        fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return MIB
    try:
        count = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, count)
        return count[0]
    except OSError:
        return MIB
    finally:
        os.close(fd)


def state_of(pid: int) -> bytes:
    """The state letter of process ``pid`` (``b"T"`` stopped, ``b"Z"`` dead, ``b""`` gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return b""
    return stat[stat.rindex(b")") + 2 :].split()[0]


def hold_still(*pids: int) -> None:
    """Stop the processes, in this order, and return once each has stopped: SIGSTOP takes
    effect when its target next leaves the kernel, after ``kill`` returned (a process that
    is not on a CPU at the moment runs until it is scheduled, then stops)."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 30
    while any(state_of(pid) not in (b"T", b"t") for pid in pids):
        assert time.monotonic() < deadline, [state_of(pid) for pid in pids]
        time.sleep(0.001)


def until_ended(pid: int, timeout: float = 60) -> None:
    """Wait until process ``pid`` is gone or a zombie (nothing reaps it here in time)."""
    deadline = time.monotonic() + timeout
    while state_of(pid) not in (b"", b"Z"):
        assert time.monotonic() < deadline, f"process {pid} did not end"
        time.sleep(0.01)


def test_a_connection_cut_mid_upload_resumes_and_sends_no_piece_twice(
    server, remote_dir, big_build
):
    store, tree = big_build
    entries = store.tree(tree).entries
    sizes = {h: n for e in entries for h, n in (e.chunks or [])}
    sizes.update({e.hash: e.size for e in entries if e.type == "file" and not e.chunks})
    piece = 256 * KIB
    killed: list[int] = []
    agents: list[int] = []

    def cut_here(agent: int) -> bool:
        """Past 80 MiB, while an object is half-way up (three or more of its pieces still to
        come beyond what already waits in the agent's pipe, which it reads after the cut;
        what the agent read and did not write yet is less than two): then kill that
        connection's sshd process. Both are held still first, sshd first: an sshd still
        running while the pipe is looked at fills it up again (up to 1 MiB) before it dies,
        and the agent finished the object from that (CI saw it once: no partial upload was
        left, held == 0)."""
        process = session_process(agent)
        hold_still(process, agent)
        try:
            waiting = bytes_waiting(agent)  # all the agent can still read: sshd writes no more
            partial = [
                p for p in incoming(remote_dir)
                if p.stat().st_size > 0  # a piece of it is written (not only the file made)
                and p.stat().st_size + waiting <= sizes[p.name.partition("-")[2]] - 3 * piece
            ]  # fmt: skip
            if partial:
                os.kill(process, signal.SIGKILL)
                killed.append(process)
            return bool(partial)
        finally:
            if not killed:
                os.kill(process, signal.SIGCONT)
            os.kill(agent, signal.SIGCONT)

    async def cut() -> None:
        remote = await connect(server, remote_dir)
        agents.append(remote.agent_pid)

        def watch(status: TransferProgress) -> None:
            if not killed and status.bytes_done >= 80 * MIB:
                cut_here(remote.agent_pid)

        try:
            await remote.push(store, "big", progress=watch, piece=piece)
        finally:
            await remote.close()

    with pytest.raises(TransferError, match=r"connection to assay-ci.* was lost.*resumes"):
        run(cut())
    assert killed
    # The cut connection's agent goes on with what its pipe still held, after the client
    # heard of the cut: what it holds is looked at (and resumed from) once it is done.
    until_ended(agents[0])
    assert Store(remote_dir).refs.names() == []
    arrived = stored_bytes(remote_dir)
    assert 80 * MIB <= arrived < 200 * MIB
    held = sum(p.stat().st_size for p in incoming(remote_dir))
    assert held > 0 and held % piece == 0  # whole pieces of the object cut half-way

    async def resume(remote: RemoteStore) -> tuple[Any, int, int]:
        report = await remote.push(store, "big", piece=piece)
        return report, remote.bytes_sent, vm_hwm(remote.agent_pid)

    report, wire, peak = run(with_remote(server, remote_dir, resume))

    assert report.version == "big@1"
    assert report.bytes_resumed == held  # the object cut half-way goes on from there
    assert report.bytes_skipped + report.bytes_resumed == arrived
    assert report.bytes_sent == report.bytes_needed - arrived  # no piece that arrived, again
    # On the wire: what was sent, the agent's code and the frames around its pieces.
    assert report.bytes_sent < wire < report.bytes_sent + 300 * KIB
    assert peak < 80 * MIB  # the agent holds a piece or two, not the objects
    assert incoming(remote_dir) == []
    assert run(with_remote(server, remote_dir, lambda r: r.verify())).clean
    assert Store(remote_dir).verify().clean  # and by BLAKE3, with assay's own verify


def test_concurrent_pushes_over_ssh_cooperate(server, remote_dir, tmp_path):
    rng = random.Random(5)
    files: dict[str, str | bytes] = {f"f{i}.bin": rng.randbytes(900 * KIB) for i in range(20)}
    files["big.bin"] = rng.randbytes(10 * MIB)
    build = write_tree(tmp_path / "build", files)
    store = Store(tmp_path / "store")
    store.put("build", build)

    async def both() -> list[Any]:
        first = await connect(server, remote_dir)
        second = await connect(server, remote_dir)
        try:
            return list(
                await asyncio.gather(
                    first.push(store, "build", piece=128 * KIB),
                    second.push(store, "build", piece=128 * KIB),
                )
            )
        finally:
            await first.close()
            await second.close()

    reports = run(both())
    assert sorted(r.version_created for r in reports) == [False, True]
    assert [v.version for v in Store(remote_dir).refs.versions("build")] == [1]
    assert incoming(remote_dir) == []
    assert Store(remote_dir).verify().clean
    Store(remote_dir).get("build", tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(build)


def test_a_full_remote_disk_fails_clearly_and_leaves_the_store_consistent(
    server, remote_dir, tmp_path, assay_cli
):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for the remote store needs root")
    remote_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(remote_dir)], check=True)
    shutil.chown(remote_dir, server.user, server.user)
    rng = random.Random(8)
    files: dict[str, str | bytes] = {f"f{i}.bin": rng.randbytes(2 * MIB) for i in range(10)}
    write_tree(tmp_path / "build", files)
    assert assay_cli("store", "put", "build", str(tmp_path / "build")).code == 0

    result = assay_cli(
        "store", "push", f"ssh://assay-ci/{remote_path(server, remote_dir)}", "build",
        "--ssh-config", server.config,
    )  # fmt: skip

    assert result.code == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"assay-ci:{remote_dir}: the store at {remote_dir} is full" in lines[0]
    assert "free space there" in lines[0] and "push again" in lines[0]
    verified = run(with_remote(server, remote_dir, lambda r: r.verify(), create=False))
    assert verified.clean and verified.checked > 0
    assert Store(remote_dir).refs.names() == []


def test_a_piece_corrupted_in_transit_over_ssh_is_not_published(server, remote_dir, tmp_path):
    rng = random.Random(9)
    build = write_tree(tmp_path / "build", {"data.bin": rng.randbytes(2 * MIB), "a": "a\n"})
    store = Store(tmp_path / "store")
    tree = store.put("build", build).version.tree
    digest = store.tree(tree).by_path()["data.bin"].hash or ""

    with pytest.raises(CorruptInTransit, match=r"corrupt in transit.*file data\.bin"):
        run(
            with_remote(
                server, remote_dir, lambda r: r.push(store, "build"), wrap=CorruptingPipeFake
            )
        )

    assert not (remote_dir / "objects" / "blobs" / digest[:2] / digest[2:]).exists()
    assert run(with_remote(server, remote_dir, lambda r: r.verify())).clean
    report = run(with_remote(server, remote_dir, lambda r: r.push(store, "build")))
    assert report.version == "build@1" and Store(remote_dir).verify().clean


def test_pulling_a_name_the_remote_lacks_names_what_it_has(server, remote_dir, tmp_path):
    store = Store(tmp_path / "store")
    store.put("build", write_tree(tmp_path / "b", {"x": "x\n"}))
    run(with_remote(server, remote_dir, lambda r: r.push(store, "build")))
    with pytest.raises(StoreError, match=r"no artifact named 'biuld'.*did you mean 'build'"):
        run(with_remote(server, remote_dir, lambda r: r.pull(store, "biuld")))
