"""Small case directories staged by plain copies (no store import): the copies' modes, the
limits, the tree hash the store would give, and the same refusals as a store import."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from assay.store import Store, StoreError
from assay.store.copystage import (
    FILE_LIMIT,
    MAX_ENTRIES,
    MAX_FILES,
    TOTAL_LIMIT,
    copy_planned,
    plan_copy,
)
from tests.conftest import write_tree
from tests.unit.fifo_guard import without_waiting


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def case(tmp_path: Path) -> Path:
    root = write_tree(
        tmp_path / "case",
        {
            "in.txt": "value 1\n",
            "run.sh": "#!/bin/sh\necho hi\n",
            "sub/deeper/data.csv": "x,y\n1,2\n",
            "expected/out.txt": "value 1\n",
        },
        exe=("run.sh",),
    )
    (root / "in.txt").chmod(0o640)
    (root / "link").symlink_to("sub/deeper/data.csv")
    (root / "abs").symlink_to("/etc/hostname")
    return root


def _copy(root: Path, target: Path, exclude=(), writable=()):
    plan = plan_copy(root, exclude)
    assert plan is not None
    target.mkdir(exist_ok=True)
    return copy_planned(plan, target, writable)


def test_the_copies_tree_hash_is_the_one_the_store_gives_the_directory(store, case, tmp_path):
    copied = _copy(case, tmp_path / "stage")
    assert copied.digest == store.import_path(case).tree
    # With the expected outputs left out: the hash of the directory without them.
    without = _copy(case, tmp_path / "stage2", exclude=["expected"])
    (case / "expected/out.txt").unlink()
    (case / "expected").rmdir()
    assert without.digest == store.import_path(case).tree != copied.digest
    assert not (tmp_path / "stage2/expected").exists()


def test_copies_are_read_only_with_the_exec_bit_kept_and_writable_ones_writable(case, tmp_path):
    stage = tmp_path / "stage"
    copied = _copy(case, stage, exclude=["expected"], writable=["sub/*"])
    mode = lambda rel: stat.S_IMODE(os.lstat(stage / rel).st_mode)  # noqa: E731
    assert mode("in.txt") == 0o440  # the source's 0640 without its write bits
    assert mode("run.sh") == 0o555  # 0755 without write: still executable
    assert mode("sub/deeper/data.csv") == 0o644  # declared writable: a writable copy
    assert os.readlink(stage / "link") == "sub/deeper/data.csv"  # links stay links
    assert os.readlink(stage / "abs") == "/etc/hostname"
    assert (stage / "in.txt").read_text() == "value 1\n"
    assert os.stat(stage / "in.txt").st_nlink == 1  # a copy, not a link to the user's file
    assert os.stat(stage / "in.txt").st_ino != os.stat(case / "in.txt").st_ino
    assert copied.read_only == 2 and copied.writable == 1
    # The user's files are as they were.
    assert stat.S_IMODE(os.stat(case / "in.txt").st_mode) == 0o640


def test_a_directory_past_a_limit_is_left_to_the_store(case):
    assert len(plan_copy(case, ()).found) == MAX_FILES  # in.txt, run.sh, data.csv, out.txt
    (case / "more").write_text("one file too many\n")
    assert plan_copy(case, ()) is None  # too many files
    assert plan_copy(case, ["expected"]) is not None  # excluded: not copied, not counted
    big = case / "big.bin"
    big.write_bytes(b"x" * (FILE_LIMIT + 1))
    assert plan_copy(case, ["expected"]) is None  # one file too big
    assert plan_copy(case, ["expected", "big.bin"]) is not None
    big.unlink()
    (case / "in.txt").write_bytes(b"y" * (TOTAL_LIMIT // 2))
    (case / "more").write_bytes(b"y" * (TOTAL_LIMIT // 2 + 1))
    assert plan_copy(case, ["expected"]) is None  # all of them too big together
    (case / "more").unlink()
    assert plan_copy(case, ["expected"]) is not None
    for i in range(MAX_ENTRIES):  # excluded, but looked at: too many to look at here
        (case / "expected" / f"e{i}").write_text("")
    assert plan_copy(case, ["expected"]) is None


def _import_error(store: Store, root: Path) -> str:
    with pytest.raises(StoreError) as caught:
        store.import_path(root)
    return str(caught.value)


def _copy_error(root: Path, target: Path) -> str:
    with pytest.raises(StoreError) as caught:
        plan = plan_copy(root, ())
        assert plan is not None
        target.mkdir(exist_ok=True)
        copy_planned(plan, target, ())
    return str(caught.value)


def test_a_fifo_is_refused_as_the_store_import_refuses_it(store, case, tmp_path):
    os.mkfifo(case / "pipe")
    message = _copy_error(case, tmp_path / "stage")
    assert message == _import_error(store, case)
    assert "pipe: not a regular file, directory or symlink" in message
    assert not (tmp_path / "stage").exists() or not os.listdir(tmp_path / "stage")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device file needs root")
def test_a_device_file_is_refused_as_the_store_import_refuses_it(store, case, tmp_path):
    os.mknod(case / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    message = _copy_error(case, tmp_path / "stage")
    assert message == _import_error(store, case)
    assert "null: not a regular file" in message


def test_a_link_chain_out_of_the_directory_is_handled_as_the_store_import_does(
    store, case, tmp_path
):
    # A relative link to a link that climbs out: refused, with the import's message.
    (case / "a").symlink_to("b")
    (case / "b").symlink_to("../../../../../../etc/shadow")
    message = _copy_error(case, tmp_path / "stage")
    assert message == _import_error(store, case)
    assert "must stay inside the directory" in message
    assert not (tmp_path / "stage").exists() or not os.listdir(tmp_path / "stage")
    # A link to a link to an absolute path: kept as links (as the import keeps them), never
    # the content of what they point to.
    (case / "b").unlink()
    (case / "b").symlink_to("/etc/shadow")
    copied = _copy(case, tmp_path / "stage3")
    assert copied.digest == store.import_path(case).tree
    assert os.readlink(tmp_path / "stage3/a") == "b"
    assert os.readlink(tmp_path / "stage3/b") == "/etc/shadow"


def test_a_file_changed_after_it_was_looked_at_is_refused_with_the_imports_message(case, tmp_path):
    plan = plan_copy(case, ())
    assert plan is not None
    with open(case / "sub/deeper/data.csv", "a") as fh:
        fh.write("3,4\n")
    (tmp_path / "stage").mkdir()
    with pytest.raises(StoreError, match=r"data\.csv changed while it was being read"):
        copy_planned(plan, tmp_path / "stage", ())
    assert os.listdir(tmp_path / "stage") == []  # what was copied is gone again


def test_a_file_replaced_by_a_link_after_it_was_looked_at_is_not_followed(case, tmp_path):
    plan = plan_copy(case, ())
    assert plan is not None
    (case / "in.txt").unlink()
    (case / "in.txt").symlink_to("/etc/passwd")
    (tmp_path / "stage").mkdir()
    with pytest.raises(StoreError, match=r"in\.txt changed while it was being read"):
        copy_planned(plan, tmp_path / "stage", ())
    assert os.listdir(tmp_path / "stage") == []


def test_the_limits_keep_every_file_one_blob():
    from assay.store.objects import CHUNK_THRESHOLD

    assert FILE_LIMIT < CHUNK_THRESHOLD  # so a file's hash is its content's blob hash


def _swap_for_a_link_to_a_lookalike(case: Path, outside: Path) -> None:
    """``sub/deeper`` becomes a link to ``outside``, whose ``data.csv`` has the same size
    and modification time as the one that was looked at (anyone who may write the case
    dir can do this between the look and the read)."""
    original = case / "sub/deeper/data.csv"
    info = original.stat()
    outside.mkdir()
    (outside / "data.csv").write_bytes(b"S" * info.st_size)  # the secret, same size
    os.utime(outside / "data.csv", ns=(info.st_atime_ns, info.st_mtime_ns))
    (case / "sub/deeper").rename(case / "sub/gone")
    (case / "sub/deeper").symlink_to(outside)


def test_a_directory_swapped_for_a_link_after_the_look_is_not_copied_through(case, tmp_path):
    plan = plan_copy(case, ())
    assert plan is not None
    _swap_for_a_link_to_a_lookalike(case, tmp_path / "outside")
    (tmp_path / "stage").mkdir()
    with pytest.raises(StoreError, match=r"data\.csv changed while it was being read"):
        copy_planned(plan, tmp_path / "stage", ())
    assert os.listdir(tmp_path / "stage") == []


def test_a_directory_swapped_for_a_link_during_an_import_is_not_stored_through(
    store, case, tmp_path, monkeypatch
):
    """The same chain against ``assay store put``: the swap happens between the walk's
    look at the file and its read (a fake walk injects it there: a real race cannot be
    made to land on demand)."""
    from assay.store import importer

    real_walk = importer.walk_directory

    def walk_swapping_a_dir_before_the_read(root: Path, *skip: Any):
        for rel, path, info in real_walk(root, *skip):
            if rel == "sub/deeper/data.csv":
                _swap_for_a_link_to_a_lookalike(case, tmp_path / "outside")
            yield rel, path, info

    monkeypatch.setattr(importer, "walk_directory", walk_swapping_a_dir_before_the_read)
    with pytest.raises(StoreError, match=r"data\.csv changed while it was being read"):
        store.import_path(case)
    secret = store.objects.blob_path  # the secret never became an object
    from assay.store.objects import hash_bytes

    size = (tmp_path / "outside/data.csv").stat().st_size
    assert not store.objects.has("blobs", hash_bytes(b"S" * size)), secret


def test_a_suite_of_copied_cases_loads_no_archive_or_store_import_code(tmp_path):
    """The copy looks at the case dir with the import's own checks (assay.store.dirwalk),
    without the archive code the store import also carries: about 10 ms per run."""
    import json
    import subprocess
    import sys

    for name in ("a", "b"):
        (tmp_path / "cases" / name / "expected").mkdir(parents=True)
        (tmp_path / "cases" / name / "in.txt").write_text(f"{name}\n")
        (tmp_path / "cases" / name / "expected" / "out.txt").write_text(f"{name}\n")
    (tmp_path / "t.suite.toml").write_text(
        '[suite]\nname = "t"\ncases = "cases/*"\ncommand = "cp in.txt out.txt"\n'
        '[suite.compare]\nfiles = ["out.txt"]\n'
    )
    watch = (
        "assay.archives",
        "assay.archive_formats",
        "tarfile",
        "zipfile",
        "assay.store.importer",
    )
    probe = (
        "import json, sys\nfrom assay.cli import main\ncode = 0\n"
        "try:\n    main(['run', '.', '--plain'])\nexcept SystemExit as e:\n    code = e.code\n"
        f"print(json.dumps([code, sorted(m for m in {watch!r} if m in sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0, out.stdout
    assert loaded == []


def test_a_file_replaced_by_a_fifo_after_the_look_is_refused_not_waited_on(case, tmp_path):
    # A FIFO put where a looked-at file was (by anyone who may write the case dir, such as
    # a case still running): opening it must not wait for a writer, which never comes.
    plan = plan_copy(case, ())
    assert plan is not None
    (case / "in.txt").unlink()
    os.mkfifo(case / "in.txt")
    (tmp_path / "stage").mkdir()
    raised = without_waiting(case / "in.txt", lambda: copy_planned(plan, tmp_path / "stage", ()))
    assert isinstance(raised, StoreError)
    assert "in.txt changed while it was being read" in str(raised)
    assert os.listdir(tmp_path / "stage") == []


def test_a_file_replaced_by_a_fifo_during_an_import_is_refused_not_waited_on(
    store, case, tmp_path, monkeypatch
):
    """The same against ``assay store put``: the swap happens between the walk's look at the
    file and its read (a fake walk injects it there: a real race cannot be made to land on
    demand)."""
    from assay.store import importer

    real_walk = importer.walk_directory

    def walk_swapping_a_fifo_in_before_the_read(root: Path, *skip: Any):
        for rel, path, info in real_walk(root, *skip):
            if rel == "in.txt":
                (case / "in.txt").unlink()
                os.mkfifo(case / "in.txt")
            yield rel, path, info

    monkeypatch.setattr(importer, "walk_directory", walk_swapping_a_fifo_in_before_the_read)
    raised = without_waiting(case / "in.txt", lambda: store.import_path(case))
    assert isinstance(raised, StoreError)
    assert "in.txt changed while it was being read" in str(raised)


@pytest.mark.parametrize("where", ["top", "below", "excluded"])
def test_a_name_that_is_not_utf8_is_refused_as_the_store_import_refuses_it(store, tmp_path, where):
    # The plan skips the full tree model when every name is plain ASCII and there is no
    # link: a name that is not, here or below, or in an excluded part, still gets it.
    root = write_tree(tmp_path / "case", {"in.txt": "1\n", "expected/out.txt": "1\n"})
    folder = {"top": root, "below": root / "expected", "excluded": root / "expected"}[where]
    (folder / os.fsdecode(b"bad\xff.txt")).write_text("x")
    exclude = ("expected",) if where == "excluded" else ()
    with pytest.raises(StoreError) as caught:
        plan_copy(root, exclude)
    assert str(caught.value) == _import_error(store, root)
    assert "not valid UTF-8" in str(caught.value)


@pytest.mark.parametrize(
    "names",
    [
        ["in.txt"],
        ["in.txt", "expected/out.txt"],
        ["a b.txt", "sub/é.txt", "sub/deeper/x"],
        ["x" * 255, "d/" + "y" * 255],
    ],
)
def test_a_tree_without_links_is_the_one_the_import_gives(store, tmp_path, names):
    root = write_tree(tmp_path / "case", {name: f"{name}\n" for name in names})
    copied = _copy(root, tmp_path / "stage")
    assert copied.digest == store.import_path(root).tree
    for name in names:
        assert (tmp_path / "stage" / name).read_text() == f"{name}\n"


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    """A case directory of files right below it (the usual small case): copied without
    the tree writer's bookkeeping."""
    root = write_tree(
        tmp_path / "flat",
        {"a.txt": "a\n", "b.sh": "#!/bin/sh\n", "c.dat": "c\n", "expected/out.txt": "x\n"},
        exe=("b.sh",),
    )
    (root / "a.txt").chmod(0o640)
    return root


def test_a_flat_directory_is_copied_with_the_modes_counts_and_hash_of_any_other(
    store, flat, tmp_path
):
    plan = plan_copy(flat, ["expected"])
    assert plan is not None and plan.flat
    stage = tmp_path / "stage"
    stage.mkdir()
    copied = copy_planned(plan, stage, ["c.dat"])
    mode = lambda rel: stat.S_IMODE(os.lstat(stage / rel).st_mode)  # noqa: E731
    assert (mode("a.txt"), mode("b.sh"), mode("c.dat")) == (0o440, 0o555, 0o644)
    assert sorted(os.listdir(stage)) == ["a.txt", "b.sh", "c.dat"]
    assert (stage / "b.sh").read_text() == "#!/bin/sh\n"
    assert (copied.read_only, copied.writable) == (2, 1)
    (flat / "expected/out.txt").unlink()
    (flat / "expected").rmdir()
    assert copied.digest == store.import_path(flat).tree
    assert [e.path for e in copied.tree.entries] == ["a.txt", "b.sh", "c.dat"]


def test_a_flat_copy_replaces_what_has_a_name_and_follows_no_link_there(flat, tmp_path):
    """What is in the stage dir at a copied file's name (a file, a link to a file of the
    user's) is replaced, as the tree writer replaces it; nothing is written through the
    link."""
    outside = tmp_path / "users.txt"
    outside.write_text("mine\n")
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "a.txt").write_text("old\n")
    (stage / "c.dat").symlink_to(outside)
    plan = plan_copy(flat, ["expected"])
    assert plan is not None and plan.flat
    copied = copy_planned(plan, stage, ())
    assert (stage / "a.txt").read_text() == "a\n"
    assert not (stage / "c.dat").is_symlink() and (stage / "c.dat").read_text() == "c\n"
    assert outside.read_text() == "mine\n"
    assert copied.read_only == 3


def test_a_flat_copy_that_fails_midway_leaves_nothing(flat, tmp_path):
    plan = plan_copy(flat, ["expected"])
    assert plan is not None and plan.flat
    with open(flat / "c.dat", "a") as fh:  # the last one: the first two are made by then
        fh.write("more\n")
    (tmp_path / "stage").mkdir()
    with pytest.raises(StoreError, match=r"c\.dat changed while it was being read"):
        copy_planned(plan, tmp_path / "stage", ())
    assert os.listdir(tmp_path / "stage") == []


def test_a_directory_with_a_subdirectory_or_a_link_is_not_flat(case, flat):
    plan = plan_copy(case, ["expected"])
    assert plan is not None and not plan.flat
    (flat / "l").symlink_to("a.txt")
    plan = plan_copy(flat, ["expected"])
    assert plan is not None and not plan.flat
