"""Fault tests of the store with real processes: gc while runs, puts and transfers use the
store; corruption, repair and the run after it; verify on damage of every kind; stores that
are read-only, unreadable or damaged must give messages, never tracebacks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_assay


def _clean(result: CliResult) -> CliResult:
    """No traceback, no internal error, whatever the exit code."""
    assert "Traceback" not in result.stderr + result.stdout, result
    assert result.code != 3, result
    return result


def _store(*args: str, cwd: Path, store: str = "st", **kw: object) -> CliResult:
    return _clean(run_assay("store", "--store", store, *args, cwd=cwd, **kw))  # type: ignore[arg-type]


@contextmanager
def _gc_loop(cwd: Path, store: Path, keep: str) -> Iterator[list[CliResult]]:
    """``assay store gc --keep KEEP`` run again and again (real processes) meanwhile."""
    done: list[CliResult] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            done.append(run_assay("store", "--store", str(store), "gc", "--keep", keep, cwd=cwd))

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:  # gc is running before we start
            time.sleep(0.05)
        yield done
    finally:
        stop.set()
        thread.join(timeout=120)
    for result in done:
        assert result.code == 0, result


def _data(root: Path, tag: str, n: int = 30) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"f{i:02d}.txt").write_text(f"{tag} {i}\n" * 20)
    return root


# --- gc while things use the store ------------------------------------------------------


def test_gc_during_a_run_removes_nothing_the_run_uses(tmp_path, write):
    """Ten cases stage unnamed source trees and use a checkout of two stacked layers while
    ``assay store gc --keep 1`` runs over and over in other processes."""
    for name in ("a", "b"):
        _data(tmp_path / f"data-{name}", name)
    _data(tmp_path / "base", "base")
    (tmp_path / "base/bin").mkdir()
    (tmp_path / "base/bin/tool").write_text('#!/bin/sh\ncat "$(dirname "$0")/../f03.txt"\n')
    (tmp_path / "base/bin/tool").chmod(0o755)
    _data(tmp_path / "top", "top", n=2)
    write(
        "test_busy.py",
        """
        import assay

        class ReadsA(assay.Test):
            sources = "data-a/"
            i = assay.parameter(list(range(5)))
            artifacts = {"build": ["base/", "top/"]}
            command = "sleep 0.5; cat f07.txt; $ASSAY_BUILD/bin/tool; cat $ASSAY_BUILD/f01.txt"

            def sanity(self, out):
                out.expect("^a 7$")
                out.expect("^base 3$")
                out.expect("^top 1$")

        class ReadsB(assay.Test):
            sources = ["data-b/", "data-a/f00.txt"]
            i = assay.parameter(list(range(5)))
            command = "sleep 0.5; cat f29.txt f00.txt"

            def sanity(self, out):
                out.expect("^b 29$")
                out.expect("^a 0$")
        """,
    )
    store = tmp_path / ".store"
    _store("put", "warmup", str(tmp_path / "top"), cwd=tmp_path, store=str(store))
    with _gc_loop(tmp_path, store, "1") as gcs:
        before = len(gcs)
        run = run_assay("run", "test_busy.py", "--plain", "--max-local", "2", cwd=tmp_path)
        during = len(gcs) - before
    assert run.code == 0, run
    assert len(run.report["cases"]) == 10
    assert during >= 2, f"only {during} gc(s) ran during the run"
    assert not list((store / "leases").iterdir())  # released when the session ended
    _store("gc", "--keep", "1", cwd=tmp_path, store=str(store))
    from assay.store import Store
    from assay.store.objects import hash_file

    # data-a's content was only ever an unnamed tree: once the session ended, it is garbage
    unnamed = hash_file(tmp_path / "data-a/f07.txt")
    assert not Store(store).objects.has("blobs", unnamed)


_PUTS = """
import sys
from pathlib import Path
from assay.store import Store
root, work, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    src = work / f"src{i}"
    src.mkdir()
    for j in range(4):
        (src / f"f{j}").write_text(f"put {i} file {j}\\n")
    Store(root).put(f"name{i}", src)
print("done")
"""


def test_gc_during_puts_never_leaves_a_version_without_its_objects(tmp_path):
    """Puts of new names while ``gc --keep 1`` loops: each new version is its name's
    newest, so gc keeps it, and it must be whole."""
    root = tmp_path / "st"
    work = tmp_path / "work"
    work.mkdir()
    _store("gc", cwd=tmp_path)
    with _gc_loop(tmp_path, root, "1"):
        puts = subprocess.run(
            [sys.executable, "-c", _PUTS, str(root), str(work), "40"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert puts.returncode == 0, puts.stderr
    verify = _store("verify", cwd=tmp_path)
    assert verify.code == 0, verify
    out = tmp_path / "out"
    _store("get", "name39", str(out), cwd=tmp_path)
    assert (out / "f3").read_text() == "put 39 file 3\n"


def test_verify_while_puts_run_finds_no_false_damage(tmp_path):
    root = tmp_path / "st"
    work = tmp_path / "work"
    work.mkdir()
    puts = subprocess.Popen(
        [sys.executable, "-c", _PUTS, str(root), str(work), "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    verifies = []
    while puts.poll() is None:
        verifies.append(_store("verify", cwd=tmp_path))
    assert puts.returncode == 0, puts.communicate()[1]
    assert verifies
    for result in verifies:
        assert result.code == 0, result


def test_a_put_killed_midway_then_two_gcs_at_once_leave_a_sound_store(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"blob{i:03d}.bin").write_bytes(os.urandom(64 * 1024))
    keep = _data(tmp_path / "keep", "kept")
    assert _store("put", "kept", "keep", "--tag", "safe", cwd=tmp_path).code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "store", "--store", "st", "put", "big", "src"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    blobs = tmp_path / "st/objects/blobs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(1 for _ in blobs.rglob("*")) < 60:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    gcs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay", "store", "--store", "st", "gc", "--keep", "0"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for gc in gcs:
        _, err = gc.communicate(timeout=120)
        assert gc.returncode == 0, err
    assert not list((tmp_path / "st/tmp").iterdir())  # the killed put's temporary files
    assert _store("verify", cwd=tmp_path).code == 0
    out = tmp_path / "out"
    _store("get", "kept", str(out), cwd=tmp_path)
    assert (out / "f05.txt").read_text() == (keep / "f05.txt").read_text()
    retry = _store("put", "big", "src", cwd=tmp_path)
    assert retry.code == 0 and "big@1" in retry.stdout
    assert _store("verify", cwd=tmp_path).code == 0


# --- corruption, repair, and the run after it ----------------------------------------------


def _flip(path: Path) -> None:
    """Corrupt a stored object in place, keeping its size and its 1970 mtime (bit rot)."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x20
    with open(path, "r+b") as fh:
        fh.write(bytes(data))
    path.chmod(0o444)
    os.utime(path, ns=(0, 0))


def _object_of(store: Path, name: str, rel: str) -> Path:
    from assay.store import Store

    st = Store(store)
    entry = st.tree(st.resolve(name).tree).by_path()[rel]
    assert entry.hash is not None
    return st.objects.path("blobs", entry.hash)


def test_corrupt_then_repair_then_put_then_run_uses_the_true_content(tmp_path, write):
    _data(tmp_path / "build", "build")
    _data(tmp_path / "inputs", "input")
    write(
        "test_uses.py",
        """
        import assay

        class Uses(assay.Test):
            sources = "inputs/"
            artifacts = {"build": "build/"}
            command = "head -n 1 f04.txt; head -n 1 $ASSAY_BUILD/f02.txt"  # where _flip hits

            def sanity(self, out):
                out.expect("^input 4$")
                out.expect("^build 2$")
        """,
    )
    env = {"ASSAY_STORE": str(tmp_path / "st")}
    first = run_assay("run", "test_uses.py", "--plain", cwd=tmp_path, env=env)
    assert first.code == 0, first
    _flip(_object_of(tmp_path / "st", "build", "f02.txt"))  # the checkout links it
    source_tree = _clean(run_assay("store", "--store", "st", "verify", cwd=tmp_path))
    assert source_tree.code == 1
    assert "damaged version: build@1: 1 path" in source_tree.stdout
    assert "damaged checkout: checkouts/" in source_tree.stdout
    repair = _store("verify", "--repair", cwd=tmp_path)
    assert repair.code == 1 and "(removed)" in repair.stdout and "(dropped" in repair.stdout
    assert _store("put", "build", "build", cwd=tmp_path).code == 0  # restores the object
    assert _store("verify", cwd=tmp_path).code == 0
    again = run_assay("run", "test_uses.py", "--plain", cwd=tmp_path, env=env)
    assert again.code == 0, again
    # The same for an input a session imported without a name: repair, and the next run
    # (its import) stores the object again.
    from assay.store import Store

    st = Store(tmp_path / "st")
    imported = st.tree(st.import_path(tmp_path / "inputs").tree).by_path()["f04.txt"]
    assert imported.hash is not None
    _flip(st.objects.path("blobs", imported.hash))
    assert _store("verify", "--repair", cwd=tmp_path).code == 1
    third = run_assay("run", "test_uses.py", "--plain", cwd=tmp_path, env=env)
    assert third.code == 0, third


def test_a_checkout_damaged_on_its_own_is_rebuilt_by_the_next_run(tmp_path, write):
    _data(tmp_path / "build", "build")
    write(
        "test_build.py",
        """
        import assay

        class UsesBuild(assay.Test):
            artifacts = {"build": "build/"}
            command = "cat $ASSAY_BUILD/f02.txt; ls $ASSAY_BUILD | wc -l"

            def sanity(self, out):
                out.expect("^build 2$")
                out.expect("^30$")
        """,
    )
    env = {"ASSAY_STORE": str(tmp_path / "st")}
    assert run_assay("run", "test_build.py", "--plain", cwd=tmp_path, env=env).code == 0
    (checkout,) = (tmp_path / "st/checkouts").iterdir()
    target = checkout / "f02.txt"
    target.unlink()
    target.write_text("build 9\n" * 20)  # same size, other content: a copy, not a link
    target.chmod(0o444)
    (checkout / "stray.txt").write_text("x\n")
    again = run_assay("run", "test_build.py", "--plain", cwd=tmp_path, env=env)
    assert again.code == 0, again
    assert _store("verify", cwd=tmp_path).code == 0


# --- verify and every other command on damage: all of it listed, never a traceback --------


def test_verify_on_a_corrupt_tree_lists_every_damaged_object_and_version(tmp_path):
    _data(tmp_path / "one", "one")
    _data(tmp_path / "two", "two", n=40)
    assert _store("put", "one", "one", cwd=tmp_path).code == 0
    assert _store("put", "two", "two", cwd=tmp_path).code == 0
    from assay.store import Store

    st = Store(tmp_path / "st")
    tree_one = st.resolve("one").tree
    tree_path = st.objects.path("trees", tree_one)
    tree_path.chmod(0o644)
    tree_path.write_bytes(b"\x00garbage")
    for i in range(25):
        _flip(_object_of(tmp_path / "st", "two", f"f{i:02d}.txt"))
    result = _store("verify", cwd=tmp_path)
    assert result.code == 1
    out = result.stdout
    assert f"corrupt: trees/{tree_one}" in out
    assert out.count("corrupt: blobs/") == 25
    assert f"damaged version: one@1: tree {tree_one[:16]} is damaged" in out
    assert "damaged version: two@1: 25 paths" in out
    assert "... and 5 more (--full lists them all)" in out
    full = _store("verify", "--full", cwd=tmp_path)
    assert all(f"      f{i:02d}.txt" in full.stdout for i in range(25))
    for args, code in (
        (("show", "one"), 2),
        (("show", "two", "--files"), 0),
        (("get", "one", "out"), 2),
        (("gc", "--keep", "1"), 2),
        (("ls",), 0),
    ):
        other = _store(*args, cwd=tmp_path)
        assert other.code == code, other
    gc = _store("gc", "--keep", "1", cwd=tmp_path)
    assert "gc removed nothing" in gc.stderr and "one@1" in gc.stderr
    assert _store("verify", "--repair", cwd=tmp_path).code == 1
    assert "gc removed nothing" not in _store("gc", "--keep", "5", cwd=tmp_path).stderr


def test_damaged_records_give_messages_not_tracebacks(tmp_path):
    _data(tmp_path / "src", "x", n=3)
    for name in ("a", "b", "c"):
        assert _store("put", name, "src", "--tag", "t1", cwd=tmp_path).code == 0
    names = tmp_path / "st/names"
    (names / "a/v1.json").write_text('{"name": "a", "ver')
    (names / "b/tags.json").write_text("[1, 2")
    (tmp_path / "st/cache/stat.sqlite").write_bytes(b"this is not a database" * 100)
    listing = _store("ls", cwd=tmp_path)
    assert listing.code == 0 and "c " in listing.stdout  # the sound names are still listed
    assert "names/a/v1.json" in listing.stderr and "names/b/tags.json" in listing.stderr
    for args in (
        ("verify",),
        ("show", "a"),
        ("show", "b#t1"),
        ("get", "a", "out-a"),
        ("tag", "b", "t2"),
        ("gc",),
    ):
        result = _store(*args, cwd=tmp_path)
        assert result.code in (1, 2), result
        assert "names/" in result.stderr + result.stdout, result
    verify = _store("verify", cwd=tmp_path)
    assert "names/a/v1.json" in verify.stdout and "names/b/tags.json" in verify.stdout
    (tmp_path / "src/new.txt").write_text("new\n")
    assert _store("put", "c", "src", cwd=tmp_path).code == 0  # the stat cache is rebuilt
    shutil.rmtree(tmp_path / "st/objects")
    lost = _store("verify", cwd=tmp_path)
    assert lost.code == 1 and "missing: trees/" in lost.stdout


def _read_only(store: Path, *args: str, cwd: Path) -> CliResult:
    """Run ``assay store ARGS`` with ``store`` bind-mounted read-only (a mount namespace)."""
    inner = " ".join(
        [
            f"mount --bind -o ro {store} {store} &&",
            sys.executable,
            "-m assay store --store",
            str(store),
            *args,
        ]
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", inner],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return CliResult(args, proc.returncode, proc.stdout, proc.stderr, cwd)


def test_a_read_only_store_reads_and_refuses_writes_with_a_message(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a read-only bind mount")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("mount namespaces are not available here")
    _data(tmp_path / "src", "x", n=3)
    store = tmp_path / "st"
    assert _store("put", "a", "src", cwd=tmp_path).code == 0
    for args in (("verify",), ("ls",), ("show", "a"), ("get", "a", str(tmp_path / "out"))):
        result = _clean(_read_only(store, *args, cwd=tmp_path))
        assert result.code == 0, result
    assert (tmp_path / "out/f01.txt").exists()
    (tmp_path / "src/new.txt").write_text("new\n")
    for args in (("put", "a", "src"), ("tag", "a", "t"), ("gc", "--keep", "0")):
        result = _clean(_read_only(store, *args, cwd=tmp_path))
        assert result.code == 2, result
        assert "Read-only file system" in result.stderr and str(store) in result.stderr, result


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A scratch directory another user can enter (pytest's own is root's alone)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="assay-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_store_the_user_may_not_write_gives_a_message(open_dir):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to run as another user")
    tmp_path = open_dir
    _data(tmp_path / "src", "x", n=3)
    assert _store("put", "a", "src", cwd=tmp_path).code == 0
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]

    def as_nobody(*args: str) -> CliResult:
        proc = subprocess.run(
            [*nobody, sys.executable, "-m", "assay", "store", "--store", "st", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": "/tmp"},
        )
        return _clean(CliResult(args, proc.returncode, proc.stdout, proc.stderr, tmp_path))

    assert as_nobody("ls").code == 0
    assert as_nobody("verify").code == 0
    for args in (("put", "b", "src"), ("gc", "--keep", "0"), ("tag", "a", "t")):
        result = as_nobody(*args)
        assert result.code == 2 and "Permission denied" in result.stderr, result


def test_odd_targets_and_emptied_names_give_messages(tmp_path):
    _data(tmp_path / "src", "x", n=3)
    assert _store("put", "demo", "src", cwd=tmp_path).code == 0
    (tmp_path / "afile").write_text("x\n")
    into_file = _store("get", "demo", "afile", cwd=tmp_path)
    assert into_file.code == 2 and "afile is not a directory" in into_file.stderr
    (tmp_path / "st/names/demo/v1.json").unlink()
    emptied = _store("show", "demo", cwd=tmp_path)
    assert emptied.code == 2 and "'demo' has no version left" in emptied.stderr
    not_a_store = _store("put", "x", "src", cwd=tmp_path, store="afile")
    assert not_a_store.code == 2 and "the store at afile is not a directory" in not_a_store.stderr


def test_a_store_path_that_is_a_file_or_cannot_be_made_says_so(tmp_path):
    """``--store FILE ls`` said "the store at FILE is empty" (exit 0); a put into a store
    that cannot be made (its parent missing) said to run `assay store verify`."""
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    for args in (["ls"], ["put", "n", "src"]):
        result = _store(*args, cwd=tmp_path, store="taken")
        assert result.code == 2, result
        assert "the store at taken is not a directory" in result.stderr, result
    assert (tmp_path / "taken").read_text() == "a file"
    made = _store("put", "n", "src", cwd=tmp_path, store="/proc/no-such-store")
    assert made.code == 2, made
    assert "a directory that can be made there" in made.stderr, made
    assert "store verify" not in made.stderr
    listed = _store("ls", cwd=tmp_path, store="not-made")
    assert listed.code == 0 and "there is no store at not-made" in listed.stdout, listed
    assert not (tmp_path / "not-made").exists()
