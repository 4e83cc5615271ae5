"""The store from the command line and from runs, with real concurrent processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_assay


def _build(root: Path, n: int = 50, tag: str = "") -> Path:
    (root / "bin").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"f{i:03d}.txt").write_text(f"file {i} {tag}\n" * 100)
    tool = root / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho tool $1\n")
    tool.chmod(0o755)
    return root


def test_cli_put_ls_show_diff_get_tag_gc_verify(tmp_path):
    src = _build(tmp_path / "src")

    def store(*args: str) -> str:
        result = run_assay("store", "--store", "st", *args, cwd=tmp_path)
        assert result.code == 0, result
        return result.stdout

    assert "demo@1  (51 of 51 files new" in store("put", "demo", "src", "-m", "first")
    assert "unchanged" in store("put", "demo", "src")
    (src / "f007.txt").write_text("changed\n")
    assert "demo@2  (1 of 51 files new, 8 B stored, 8 B read)" in store("put", "demo", "src")
    listing = store("ls")
    assert listing.splitlines()[1].split()[:3] == ["demo", "2", "@2"]
    diff = store("show", "demo", "--diff", "@1")
    assert "~ f007.txt" in diff and "1 changed" in diff
    assert "demo#v1 -> demo@1" in store("tag", "demo@1", "v1")
    store("get", "demo#v1", "out")
    assert (tmp_path / "out/f007.txt").read_text().startswith("file 7")
    assert os.access(tmp_path / "out/bin/tool", os.X_OK)
    assert "would remove 1 version(s)" not in store("gc", "--keep", "1", "--dry-run")  # tagged
    assert "checked" in store("verify")
    missing = run_assay("store", "--store", "st", "show", "dmeo", cwd=tmp_path)
    assert missing.code == 2 and "did you mean 'demo'" in missing.stderr


def test_show_escapes_control_characters_in_names_targets_and_notes(tmp_path):
    # A stored name may hold any character but "/" and NUL: a newline would print a line
    # that reads as another entry, an escape sequence restyle or clear the terminal.
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain.txt").write_text("x\n")
    (src / "evil\n- 0644     1 B  fake.txt").write_text("x\n")
    (src / "clear\x1b[2J\rtitle").write_text("x\n")
    (src / "link").symlink_to("to\x1b]0;owned\x07")

    def store(*args: str) -> str:
        result = run_assay("store", "--store", "st", *args, cwd=tmp_path)
        assert result.code == 0, result
        return result.stdout

    store("put", "demo", "src", "-m", "note\x1b[31m red\nsecond line")
    listed = store("show", "demo", "--files")
    (src / "plain.txt").unlink()
    (src / "new\x1b[Kfile").write_text("y\n")
    store("put", "demo", "src")
    diffed = store("show", "demo", "--diff", "@1")
    for out in (listed, diffed):
        assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    lines = listed.splitlines()
    assert "  message:  note\\x1b[31m red\\x0asecond line" in lines
    assert not any(line.endswith("fake.txt") and "evil" not in line for line in lines)
    assert any(line.endswith("  evil\\x0a- 0644     1 B  fake.txt") for line in lines)
    assert any(line.endswith("  clear\\x1b[2J\\x0dtitle") for line in lines)
    assert any(line.endswith("  link -> to\\x1b]0;owned\\x07") for line in lines)
    assert "  + new\\x1b[Kfile  (2 B)" in diffed.splitlines()


def test_concurrent_puts_and_stagings_from_real_processes(tmp_path):
    """Four processes put different trees under one name and stage them at once."""
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom assay.store import Store\n"
        "store = Store(Path(sys.argv[1]))\n"
        "for round_ in range(3):\n"
        "    src = Path(sys.argv[2]) / f'round{round_}'\n"
        "    v = store.put('shared', src).version\n"
        "    store.stage(v.tree, Path(sys.argv[2]) / f'stage{round_}')\n"
        "print('ok')\n"
    )
    for w in range(4):
        for r in range(3):
            _build(tmp_path / f"w{w}" / f"round{r}", n=30, tag=f"{w}-{r}")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "store"), str(tmp_path / f"w{w}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    from assay.store import Store

    store = Store(tmp_path / "store")
    versions = store.refs.versions("shared")
    assert [v.version for v in versions] == list(range(1, 13))  # numbered without clashes
    assert len({v.tree for v in versions}) == 12
    report = store.verify()
    assert report.corrupt == [] and report.damaged_versions == []
    for w in range(4):
        for r in range(3):
            text = (tmp_path / f"w{w}/stage{r}/f003.txt").read_text()
            assert text == f"file 3 {w}-{r}\n" * 100


def test_a_put_killed_midway_leaves_no_version_and_can_be_retried(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(300):
        (src / f"blob{i:03d}.bin").write_bytes(os.urandom(256 * 1024))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "store", "--store", "st", "put", "big", "src"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    objects = tmp_path / "st" / "objects" / "blobs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if objects.is_dir() and sum(1 for _ in objects.rglob("*")) > 20:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "st" / "names" / "big").exists() or not list(
        (tmp_path / "st" / "names" / "big").glob("v*.json")
    )
    retry = run_assay("store", "--store", "st", "put", "big", "src", cwd=tmp_path)
    assert retry.code == 0 and "big@1" in retry.stdout
    verify = run_assay("store", "--store", "st", "verify", cwd=tmp_path)
    assert verify.code == 0, verify


def test_runs_stage_sources_by_hard_links_and_catch_writes_to_inputs(tmp_path, write):
    data = tmp_path / "data"
    data.mkdir()
    (data / "input.txt").write_text("1 2 3\n")
    (data / "config.ini").write_text("x = 1\n")
    write(
        "test_inputs.py",
        """
        import os
        import assay

        class Reads(assay.Test):
            sources = "data/"
            i = assay.parameter([1, 2])
            command = "cat input.txt"

            def sanity(self, out):
                out.expect("1 2 3")
                assert os.stat(self.stage_dir / "input.txt").st_nlink >= 2  # a link, not a copy

        class EditsDeclared(assay.Test):
            sources = "data/"
            writable = ["config.ini"]
            command = "echo 'y = 2' >> config.ini && cat config.ini"

            def sanity(self, out):
                out.expect("y = 2")
        """,
    )
    first = run_assay("run", "test_inputs.py", "--plain", cwd=tmp_path)
    assert first.code == 0, first
    assert (data / "config.ini").read_text() == "x = 1\n"  # the source is untouched
    write(
        "test_sneaky.py",
        """
        import assay

        class Sneaky(assay.Test):
            sources = "data/"
            command = "echo sneaky >> input.txt"
        """,
    )
    sneaky = run_assay("run", "test_sneaky.py", "--plain", cwd=tmp_path)
    case = sneaky.case("Sneaky")
    reason = case["failure"]["reason"]  # even as root; the input and the fix are named
    assert reason.startswith("exit code 1 (expected exit code 0); 'input.txt' is a staged input")
    assert 'writable = ["input.txt"] in the test' in reason
    assert (
        "input.txt: Permission denied" in (Path(case["output_dir"]) / "assay-run.err").read_text()
    )
    verify = run_assay("store", "verify", cwd=tmp_path)
    assert verify.code == 0, verify  # the store is as it was
    if os.geteuid() != 0:
        return  # the rest is root's: changing a file's mode needs to own it
    write(
        "test_deliberate.py",
        """
        import assay

        class Deliberate(assay.Test):
            sources = "data/"
            command = "chmod u+w input.txt && echo sneaky >> input.txt"
        """,
    )
    deliberate = run_assay("run", "test_deliberate.py", "--plain", cwd=tmp_path)
    case = deliberate.case("Deliberate")
    assert case["failure"]["stage"] == "cleanup"
    assert (
        "wrote to read-only inputs (input.txt); declare them in writable"
        in (case["failure"]["reason"])
    )
    # The damaged object was set aside: the next run stages the true content again.
    again = run_assay("run", "test_inputs.py", "-n", "Reads", "--plain", cwd=tmp_path)
    assert again.code == 0, again


def test_a_job_that_writes_an_input_and_sets_its_time_and_mode_back_is_caught(tmp_path, write):
    """The owner of the store's objects (any user; root too, without CAP_FOWNER) may make a
    linked input writable again, write it keeping its size, and set its modification time
    back to 1970 and its mode back to read-only: the check at cleanup (root's only, and by
    the modification time alone) let the case pass, and the store's object held the new
    bytes for every later case and run, until `assay store verify --repair`. The inode's
    change time, which no process can set back, gives it away. The case that staged the
    object after the write (under --serial its job started as the writer's ended) is told
    that its input was set aside as damaged."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "input.txt").write_text("ORIGINAL\n")
    write(
        "test_restore.py",
        """
        import assay

        class A1Writes(assay.Test):
            sources = "data/"
            command = (
                "chmod u+w input.txt && printf 'TAMPERED\\n' > input.txt"
                " && touch -d @0 input.txt && chmod a-w input.txt"
            )

        class B2Reads(assay.Test):
            sources = "data/"
            command = "cat input.txt"
        """,
    )
    first = run_assay("run", "test_restore.py", "--plain", "--serial", cwd=tmp_path)
    writer = first.case("A1Writes")
    assert writer["status"] == "failed", first
    assert writer["failure"]["stage"] == "cleanup"
    assert "wrote to read-only inputs (input.txt)" in writer["failure"]["reason"]
    reader = first.case("B2Reads")
    if (Path(reader["output_dir"]) / "assay-run.out").read_text() == "TAMPERED\n":
        assert reader["status"] == "failed"  # (staged before the writer's cleanup)
        assert (
            "read-only inputs (input.txt) were set aside as damaged"
            in (reader["failure"]["reason"])
        )
    else:  # (staged after it: the true content, stored again)
        assert reader["status"] == "passed", first
    verify = run_assay("store", "verify", cwd=tmp_path)
    assert verify.code == 0, verify  # the damaged object was set aside
    again = run_assay("run", "test_restore.py", "-n", "B2", "--plain", cwd=tmp_path)
    assert again.code == 0, again
    out = Path(again.case("B2Reads")["output_dir"]) / "assay-run.out"
    assert out.read_text() == "ORIGINAL\n"


def test_a_test_cannot_write_into_a_stored_build_it_uses(tmp_path, write):
    (tmp_path / "b/bin").mkdir(parents=True)
    (tmp_path / "b/bin/tool").write_text("#!/bin/sh\necho tool\n")
    write(
        "test_writes.py",
        """
        import assay

        class Writes(assay.Test):
            artifacts = {"build": "b/"}
            command = "echo x >> $ASSAY_BUILD/bin/tool"
        """,
    )
    result = run_assay("run", "test_writes.py", "--plain", cwd=tmp_path)
    case = result.case("Writes")
    assert case["failure"]["reason"] == "exit code 1 (expected exit code 0)"  # even as root
    assert "bin/tool: Permission denied" in (Path(case["output_dir"]) / "assay-run.err").read_text()
    verify = run_assay("store", "verify", cwd=tmp_path)
    assert verify.code == 0, verify


@pytest.mark.parametrize("how", ["--store", "ASSAY_STORE"])
def test_a_store_named_by_a_relative_path_gives_jobs_a_build_they_can_reach(tmp_path, write, how):
    """--store st (or ASSAY_STORE=st) made $ASSAY_BUILD st/checkouts/TREE, relative, which
    a job in its stage dir could not reach ('No such file or directory', exit code 127)."""
    (tmp_path / "b/bin").mkdir(parents=True)
    (tmp_path / "b/bin/tool").write_text("#!/bin/sh\necho tool ran\n")
    (tmp_path / "b/bin/tool").chmod(0o755)
    write(
        "test_uses.py",
        """
        import assay

        class Uses(assay.Test):
            artifacts = {"build": "b/"}
            command = "$ASSAY_BUILD/bin/tool"

            def sanity(self, out):
                out.expect("tool ran")
        """,
    )
    if how == "--store":
        result = run_assay("run", "test_uses.py", "--plain", "--store", "st", cwd=tmp_path)
    else:
        result = run_assay("run", "test_uses.py", "--plain", cwd=tmp_path, env={how: "st"})
    assert result.code == 0, result
    assert (tmp_path / "st" / "checkouts").is_dir()


def _count_objects(store: Path) -> int:
    return sum(1 for p in (store / "objects").rglob("*") if p.is_file())


def test_a_suite_uses_a_stored_build_by_tag_and_a_rerun_stores_nothing(tmp_path):
    build = _build(tmp_path / "build-tree", n=5)
    (tmp_path / "cases/c1/expected").mkdir(parents=True)
    (tmp_path / "cases/c1/expected/out.txt").write_text("tool c1\n")
    st = ["store", "--store", "st"]
    assert run_assay(*st, "put", "mybuild", str(build), "--tag", "good", cwd=tmp_path).code == 0
    (build / "bin/tool").write_text("#!/bin/sh\necho broken $1\n")
    assert "mybuild@2" in run_assay(*st, "put", "mybuild", str(build), cwd=tmp_path).stdout
    (tmp_path / "s.suite.toml").write_text(
        '[suite]\nbuild = "store:mybuild#good"\ncases = "cases/*"\n'
        'command = "$ASSAY_BUILD/bin/tool {case} > out.txt"\n'
        '[suite.compare]\nfiles = ["out.txt"]\n'
    )
    env = {"ASSAY_STORE": str(tmp_path / "st")}
    first = run_assay("run", ".", "--plain", cwd=tmp_path, env=env)
    assert first.code == 0, first  # the tagged version, not the broken newest one
    newest = (tmp_path / "s.suite.toml").read_text().replace("#good", "")
    (tmp_path / "s.suite.toml").write_text(newest)
    broken = run_assay("run", ".", "--plain", cwd=tmp_path, env=env)
    assert broken.code == 1 and "broken" in broken.case("s[case=c1]")["failure"]["details"]
    before = _count_objects(tmp_path / "st")
    again = run_assay("run", ".", "--plain", cwd=tmp_path, env=env)
    assert again.code == 1
    assert _count_objects(tmp_path / "st") == before  # nothing stored the second time


def test_a_run_puts_a_build_archive_into_the_store_once(tmp_path):
    import tarfile

    build = _build(tmp_path / "tree", n=5)
    with tarfile.open(tmp_path / "app-1.0.tar.gz", "w:gz") as tar:
        tar.add(build, arcname=".")
    (tmp_path / "cases/c1").mkdir(parents=True)
    (tmp_path / "s.suite.toml").write_text(
        '[suite]\nbuild = "app-1.0.tar.gz"\ncases = "cases/*"\n'
        'command = "$ASSAY_BUILD/bin/tool ok"\n'
    )
    env = {"ASSAY_STORE": str(tmp_path / "st")}
    assert run_assay("run", ".", "--plain", cwd=tmp_path, env=env).code == 0
    listing = run_assay("store", "--store", "st", "ls", cwd=tmp_path)
    assert listing.stdout.splitlines()[1].split()[:3] == ["app-1.0", "1", "@1"]
    before = _count_objects(tmp_path / "st")
    assert run_assay("run", ".", "--plain", cwd=tmp_path, env=env).code == 0
    assert _count_objects(tmp_path / "st") == before
    assert len(run_assay("store", "--store", "st", "ls", cwd=tmp_path).stdout.splitlines()) == 2


def test_many_processes_opening_and_writing_the_stat_cache_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    """Processes that open a store's stat cache while others write it: SQLite answers some
    steps of opening (switching to WAL, recovering the WAL index) "database is locked" at once,
    without waiting for the busy timeout; each must retry, not fail the put."""
    go = tmp_path / "go"
    script = tmp_path / "opener.py"
    script.write_text(
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from assay.store.importer import StatCache\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
        "for i in range(40):\n"
        "    cache = StatCache(Path(sys.argv[1]))\n"
        "    cache.remember_files([(os.stat(sys.argv[2]), f'{i:064x}', None)])\n"
        "    cache.close()\n"
    )
    cache = tmp_path / "cache" / "stat.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(cache), str(go)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    time.sleep(0.5)  # all eight waiting for the start signal
    go.touch()
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(err.strip().splitlines()[-1])
    assert failures == []


def _traced(tmp_path: Path, *argv: str) -> list[str]:
    """The durability calls (fsync, syncfs, sync, rename) of ``assay ARGV``, in order."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    log = tmp_path / "strace.log"
    traced = "fsync,fdatasync,syncfs,sync,rename,renameat,renameat2"
    command = ["strace", "-f", "-y", "-qq", "-e", f"trace={traced}", "-o", str(log)]
    command += [sys.executable, "-m", "assay", *argv]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = [line.split(None, 1)[1] for line in log.read_text().splitlines()]
    return [c for c in calls if not c.startswith(("---", "+++"))]


def test_a_version_record_is_on_disk_with_its_objects_before_the_put_returns(tmp_path):
    # A power cut must not leave a version whose record is lost or whose objects are not:
    # the objects are flushed (syncfs) before the record is written, the record's file is
    # flushed before it is renamed into place, and its directory after.
    _build(tmp_path / "src", n=3)
    calls = _traced(tmp_path, "store", "--store", "st", "put", "demo", "src")
    (renamed,) = [i for i, c in enumerate(calls) if c.startswith("rename") and "v1.json" in c]
    flushed = [i for i, c in enumerate(calls) if c.startswith(("syncfs(", "sync("))]
    assert flushed and flushed[-1] < renamed, calls
    tmp_name = calls[renamed].split('"')[1]
    assert any(c.startswith("fsync(") and f"{tmp_name}>" in c for c in calls[:renamed]), calls
    folder = str(tmp_path / "st" / "names" / "demo")
    assert any(c.startswith("fsync(") and f"<{folder}>" in c for c in calls[renamed:]), calls
