"""The artifact store against real files: content addressing, incremental versions, chunks,
references, staging by links, damage detection, garbage collection and verification."""

from __future__ import annotations

import os
import random
import stat
import tarfile
from pathlib import Path

import pytest

from assay.archives import ArchiveError
from assay.store import Store, StoreError
from assay.store.objects import CHUNK_THRESHOLD, Corrupt
from tests.conftest import write_tree


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    files = {f"lib/part{i}.txt": f"part {i}\n" * 200 for i in range(20)}
    files["bin/solver"] = "#!/bin/sh\necho solved\n"
    root = write_tree(tmp_path / "build", files, exe=("bin/solver",))
    (root / "bin" / "latest").symlink_to("solver")
    return root


def test_put_twice_makes_one_version_and_reads_nothing_the_second_time(store, build):
    first = store.put("solver", build)
    assert first.created and first.version.ref == "solver@1"
    assert first.imported.files == 21 and first.imported.new_bytes == first.imported.bytes
    again = store.put("solver", build)
    assert not again.created and again.version.ref == "solver@1"
    assert again.imported.read_bytes == 0 and again.imported.new_bytes == 0


def test_a_changed_file_is_the_only_new_content(store, build):
    store.put("solver", build)
    (build / "lib/part3.txt").write_text("changed\n")
    second = store.put("solver", build)
    assert second.version.ref == "solver@2"
    assert second.imported.new_bytes == len("changed\n")
    assert second.imported.read_bytes == len("changed\n")  # the stat cache skipped the rest
    assert second.imported.new_files == 1


def test_the_same_content_as_directory_or_archive_is_the_same_tree(store, build, tmp_path):
    archive = tmp_path / "build.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(build, arcname=".")
    from_dir = store.put("a", build).version.tree
    imported = store.put("b", archive)
    assert imported.version.tree == from_dir
    assert imported.imported.new_bytes == 0  # every file was already stored
    cached = store.import_path(archive)
    assert cached.cached and cached.read_bytes == 0


def _chunk_spans(store: Store, tree: str) -> list[tuple[int, int, str]]:
    """(start, end, digest) of each chunk of the stored tree's one file."""
    (entry,) = store.tree(tree).entries
    assert entry.chunks is not None
    spans, start = [], 0
    for digest, size in entry.chunks:
        spans.append((start, start + size, digest))
        start += size
    return spans


def test_a_large_file_stores_only_the_chunks_around_a_change(store, tmp_path):
    # Seeded: how far the changed chunks reach depends on the data (a 4 MiB chunk cut at
    # CHUNK_MAX may follow the change; random.Random(62) makes 6.8 MiB of them). What
    # holds for any data is checked on the chunks themselves below.
    rng = random.Random(2024)
    data = bytearray(rng.randbytes(3 * CHUNK_THRESHOLD // 2))  # 12 MiB: chunked
    root = write_tree(tmp_path / "big", {"data.bin": bytes(data)})
    first = store.put("big", root)
    assert first.imported.new_bytes == len(data)
    middle = len(data) // 2
    data[middle : middle + 100_000] = rng.randbytes(100_000)
    (root / "data.bin").write_bytes(bytes(data))
    second = store.put("big", root)
    # Only the chunks that hold the change, one run of them, are new: those before it and
    # after it are the first version's, and what was stored is exactly the new ones.
    before = {d for _, _, d in _chunk_spans(store, first.version.tree)}
    spans = _chunk_spans(store, second.version.tree)
    fresh = [i for i, (_, _, d) in enumerate(spans) if d not in before]
    assert fresh == list(range(fresh[0], fresh[-1] + 1))
    assert spans[fresh[0]][0] <= middle and middle + 100_000 <= spans[fresh[-1]][1]
    assert second.imported.new_bytes == sum(spans[i][1] - spans[i][0] for i in fresh)
    assert 100_000 <= second.imported.new_bytes <= 4 * 2**20 + 100_000  # for this data
    out = tmp_path / "out"
    store.get("big@2", out)
    assert (out / "data.bin").read_bytes() == bytes(data)


def test_references_versions_tags_and_their_errors(store, build):
    store.put("solver", build)
    (build / "lib/part1.txt").write_text("v2\n")
    store.put("solver", build)
    store.refs.tag("solver", 1, "release-1.4")
    assert store.resolve("solver").version == 2
    assert store.resolve("solver@1").version == 1
    assert store.resolve("solver#release-1.4").version == 1
    with pytest.raises(StoreError, match=r"no artifact named 'solvr'.*did you mean 'solver'"):
        store.resolve("solvr")
    with pytest.raises(StoreError, match="solver has no version 7; versions: 1, 2"):
        store.resolve("solver@7")
    with pytest.raises(StoreError, match=r"no tag 'release-1\.5'.*tags: release-1\.4"):
        store.resolve("solver#release-1.5")
    with pytest.raises(StoreError, match="not a valid name"):
        store.put("../evil", build)


def test_staging_links_read_only_objects_and_copies_writable_paths(store, build, tmp_path):
    tree = store.put("solver", build).version.tree
    target = tmp_path / "stage"
    staged = store.stage(tree, target, writable=["lib/part0.txt"])
    assert staged.linked == 20 and staged.copied + staged.reflinked == 1
    linked = target / "lib/part5.txt"
    assert linked.stat().st_nlink >= 2  # a hard link into the store
    assert stat.S_IMODE(linked.stat().st_mode) == 0o444
    assert os.access(target / "bin/solver", os.X_OK)
    assert os.readlink(target / "bin/latest") == "solver"
    private = target / "lib/part0.txt"
    assert private.stat().st_nlink == 1 and private.stat().st_mode & stat.S_IWUSR
    private.write_text("mine\n")
    again = tmp_path / "stage2"
    store.stage(tree, again)
    assert (again / "lib/part0.txt").read_text() == "part 0\n" * 200


def test_staging_without_links_copies_read_only_inputs_to_inodes_of_their_own(
    store, build, tmp_path
):
    """For a case that could write through a link (root that cannot drop the capabilities
    overriding modes): read-only private copies; writing one leaves the store intact."""
    tree = store.put("solver", build).version.tree
    target = tmp_path / "stage"
    staged = store.stage(tree, target, writable=["lib/part0.txt"], link=False)
    assert staged.linked == 0 and staged.linked_paths == []
    assert staged.copied + staged.reflinked == 21
    copy = target / "lib/part5.txt"
    assert copy.stat().st_nlink == 1
    assert stat.S_IMODE(copy.stat().st_mode) == 0o444
    assert os.access(target / "bin/solver", os.X_OK)
    assert (target / "lib/part0.txt").stat().st_mode & stat.S_IWUSR  # writable: as before
    os.chmod(copy, 0o644)  # what root could do through a link, on its own inode here
    copy.write_text("tampered\n")
    assert Store(store.root).verify().corrupt == []
    linked = store.stage(tree, tmp_path / "stage2")
    assert (tmp_path / "stage2/lib/part5.txt").read_text() == "part 5\n" * 200
    assert linked.linked == 21  # (no writable path this time)


def test_an_object_written_through_a_link_is_caught_before_reuse(store, build, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can write through a read-only link")
    tree = store.put("solver", build).version.tree
    target = tmp_path / "stage"
    store.stage(tree, target)
    with open(target / "lib/part2.txt", "a") as fh:  # root ignores the 0444 mode
        fh.write("tampered\n")
    # A process checks each object once (a run's own cases are checked when they end);
    # the next process to stage it finds the damage.
    store = Store(store.root)
    with pytest.raises(Corrupt, match="was modified after it was stored"):
        store.stage(tree, tmp_path / "stage2")
    report = store.verify()
    assert len(report.corrupt) == 1 and report.versions == {"solver@1": ["lib/part2.txt"]}
    store.verify(repair=True)
    (build / "lib/part2.txt").write_text("part 2\n" * 200)  # touch: the stat cache re-reads it
    store.put("solver", build)
    store.stage(store.resolve("solver").tree, tmp_path / "stage3")
    assert store.verify().corrupt == []


def test_checkout_is_made_once_and_shared(store, build):
    tree = store.put("solver", build).version.tree
    first = store.checkout(tree)
    assert first == store.checkout(tree)
    assert (first / "bin/solver").read_text().startswith("#!/bin/sh")


def test_gc_keeps_the_newest_and_tagged_versions_and_what_they_share(store, build):
    for i in range(4):
        (build / "lib/changing.txt").write_text(f"version {i}\n")
        store.put("solver", build)
    store.refs.tag("solver", 1, "keep-me")
    dry = store.gc(keep=1, dry_run=True)
    assert [v.version for v in dry.versions] == [2, 3]
    # two blobs, and the root and lib/ tree objects only versions 2 and 3 used (the other
    # directories are shared with the versions kept)
    assert dry.objects == 6
    assert len(store.refs.versions("solver")) == 4
    report = store.gc(keep=1)
    assert [v.version for v in report.versions] == [2, 3]
    assert [v.version for v in store.refs.versions("solver")] == [1, 4]
    assert store.verify().damaged_versions == []
    out = Path(store.root).parent / "v1"
    store.get("solver#keep-me", out)
    assert (out / "lib/changing.txt").read_text() == "version 0\n"


def test_gc_empties_the_quarantine_of_objects_set_aside_more_than_a_week_ago(store, build):
    from assay.store import maintenance
    from assay.store.objects import quarantine

    tree = store.put("solver", build).version.tree
    (entry,) = [e for e in store.tree(tree).entries if e.path == "lib/part3.txt"]
    assert entry.hash is not None
    blob = store.objects.path("blobs", entry.hash)
    month_ago = blob.stat().st_mtime - 30 * 86400
    os.utime(blob, (month_ago, month_ago))  # stored long ago ...
    quarantine(blob)  # ... set aside now (a test wrote through its read-only link)
    folder = store.root / "quarantine"
    (aside,) = list(folder.iterdir())
    assert store.gc(keep=5).quarantined == 0  # kept a week for whoever looks into it
    assert aside.exists()
    week_ago = aside.stat().st_mtime - maintenance.QUARANTINE_KEPT - 60
    os.utime(aside, (week_ago, week_ago))
    dry = store.gc(keep=5, dry_run=True)
    assert (dry.quarantined, aside.exists()) == (1, True)
    assert dry.bytes >= aside.stat().st_size > 0
    stray = folder / "not-an-object"  # a directory someone made there: left alone
    stray.mkdir()
    os.utime(stray, (week_ago, week_ago))
    assert store.gc(keep=5).quarantined == 1
    assert list(folder.iterdir()) == [stray]
    assert store.gc(keep=5).quarantined == 0


def test_an_unreadable_source_leaves_no_version(store, build):
    if os.geteuid() == 0:
        (build / "fifo").unlink(missing_ok=True)
        os.mkfifo(build / "fifo")  # root reads anything; a FIFO is refused by anyone
    else:
        (build / "lib/part4.txt").chmod(0)
    with pytest.raises((StoreError, PermissionError)):
        store.put("solver", build)
    assert store.refs.versions("solver") == []
    (build / "fifo").unlink(missing_ok=True)
    (build / "lib/part4.txt").chmod(0o644)
    assert store.put("solver", build).version.ref == "solver@1"


def test_tree_references_find_the_version_holding_a_tree(store, build):
    version = store.put("solver", build).version
    assert store.resolve(f"tree:{version.tree[:10]}").ref == "solver@1"
    with pytest.raises(StoreError, match="at least 6 hex digits"):
        store.resolve("tree:ab")
    with pytest.raises(StoreError, match="no version has a tree starting with 000000"):
        store.resolve("tree:000000")


def test_bit_rot_is_caught_by_the_sampled_check_on_first_use(store, build, tmp_path):
    from assay.store.objects import VERIFY_SAMPLE

    tree = store.tree(store.put("solver", build).version.tree)
    entry = next(e for e in tree.entries if e.type == "file" and not e.executable)
    path = store.objects.path("blobs", entry.hash)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 1  # same size, and the mtime is put back: only the hash can tell
    path.write_bytes(bytes(data))
    os.utime(path, ns=(0, 0))
    fresh = Store(store.root)
    fresh.objects._sample = int(entry.hash[:4], 16) % VERIFY_SAMPLE  # this object is sampled
    with pytest.raises(Corrupt, match="no longer matches its hash"):
        fresh.stage(tree, tmp_path / "stage")


# --- trees that cannot be written out safely --------------------------------------------------


def _tar(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """(name, kind, content or link target) members, kind "file", "dir" or "symlink"."""
    import io

    with tarfile.open(path, "w") as tar:
        for name, kind, what in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                assert isinstance(what, bytes)
                info.size = len(what)
                tar.addfile(info, io.BytesIO(what))
            else:
                info.type = tarfile.DIRTYPE if kind == "dir" else tarfile.SYMTYPE
                info.linkname = str(what)
                tar.addfile(info)
    return path


def test_a_file_that_is_also_a_parent_is_refused_at_put(store, tmp_path):
    archive = _tar(tmp_path / "d.tar", [("d", "file", b"file\n"), ("d/x.txt", "file", b"x\n")])
    with pytest.raises(ArchiveError, match=r"member 'd/x\.txt' lies below 'd', which is a file"):
        store.put("d", archive)
    assert store.refs.versions("d") == []


def test_a_name_too_long_for_the_file_system_is_refused_at_put(store, tmp_path):
    name = "n" * 300
    archive = _tar(tmp_path / "long.tar", [(name, "file", b"x\n")])
    with pytest.raises(ArchiveError, match=f"member '{name}' has a name component of 300 bytes"):
        store.put("long", archive)


def test_a_backslash_name_is_kept_through_put_and_get(store, tmp_path):
    archive = _tar(tmp_path / "b.tar", [("back\\slash", "file", b"x\n")])
    tree = store.tree(store.put("b", archive).version.tree)
    assert [e.path for e in tree.entries] == ["back\\slash"]
    store.get("b", tmp_path / "out")
    assert os.listdir(tmp_path / "out") == ["back\\slash"]


def test_special_mode_bits_never_reach_a_copy(store, tmp_path):
    """Not from an archive (dropped at put), nor from a tree an older assay stored."""
    archive = tmp_path / "m.tar"
    with tarfile.open(archive, "w") as tar:
        import io

        info = tarfile.TarInfo("suid")
        info.size, info.mode = 2, 0o6777
        tar.addfile(info, io.BytesIO(b"x\n"))
    tree = store.tree(store.put("m", archive).version.tree)
    assert [e.mode for e in tree.entries] == [0o755]
    store._ready()
    digest, _ = store.objects.put_bytes("xblobs", b"x\n")
    from assay.store.trees import Entry, make_tree, put_tree

    old = put_tree(store.objects, make_tree([Entry("suid", "file", 0o6777, 2, digest)]))
    store.refs.add("old", old, {})
    store.get("old", tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / "suid").stat().st_mode) == 0o755


def test_a_directory_with_a_relative_link_leaving_it_is_refused(store, tmp_path):
    root = write_tree(tmp_path / "src", {"a.txt": "a\n"})
    (root / "up").symlink_to("../../somewhere")
    with pytest.raises(StoreError, match=r"src: symlink 'up' points outside the directory"):
        store.put("src", root)
    (root / "up").unlink()
    (root / "python").symlink_to("/usr/bin/python3")  # absolute: the same everywhere, kept
    (root / "here").symlink_to("a.txt")
    store.put("src", root)
    store.get("src", tmp_path / "out")
    assert os.readlink(tmp_path / "out" / "python") == "/usr/bin/python3"
    assert os.readlink(tmp_path / "out" / "here") == "a.txt"


def test_layers_that_chain_out_together_are_refused_at_put(store, tmp_path):
    base = _tar(tmp_path / "base.tar", [("a", "symlink", ".")])
    delta = _tar(tmp_path / "delta.tar", [("b", "symlink", "a/..")])
    with pytest.raises(StoreError, match=r"'b' points outside the tree \('a/\.\.'\)"):
        store.put("layered", base, overlays=[delta])
    assert store.refs.versions("layered") == []


def test_a_checkout_or_get_failing_midway_leaves_nothing(store, build, tmp_path):
    version = store.put("solver", build).version
    tree = store.tree(version.tree)
    victim = next(e for e in tree.entries if e.path == "lib/part7.txt")
    blob = store.objects.path("blobs", victim.hash)
    blob.chmod(0o644)
    blob.unlink()  # an object lost from the store: staging fails at that file
    with pytest.raises(StoreError, match="is missing"):
        store.checkout(version.tree)
    checkouts = store.root / "checkouts"
    assert list(checkouts.iterdir()) == []  # no .partial-* left
    with pytest.raises(StoreError, match="is missing"):
        store.get("solver", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "mine.txt").write_text("mine\n")
    with pytest.raises(StoreError, match="is missing"):
        store.get("solver", tmp_path / "existing")
    assert os.listdir(tmp_path / "existing") == ["mine.txt"]


def test_chunks_from_a_stream_are_those_of_the_whole_file(store, tmp_path):
    """put_chunked_stream reads a window at a time; the cut points must be FastCDC's over
    the whole file, or a file put as a directory and as an archive would not share chunks."""
    import random

    from fastcdc.fastcdc_cy import fastcdc_cy

    from assay.store.objects import CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, hash_bytes

    store._ready()
    rng = random.Random(8)
    data = rng.randbytes(20 * 2**20) + bytes(9 * 2**20) + rng.randbytes(3 * 2**20 + 12345)
    whole = [
        (hash_bytes(c.data), c.length)
        for c in fastcdc_cy(data, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX, fat=True, hf=None)
    ]

    class Dribble:  # short reads of odd sizes, as a decompressor gives them
        def __init__(self) -> None:
            self.at = 0

        def read(self, n: int = -1, /) -> bytes:
            size = min(n, rng.randrange(1, 3_000_000))
            piece = data[self.at : self.at + size]
            self.at += len(piece)
            return piece

    digest, chunks, _ = store.objects.put_chunked_stream(Dribble())
    assert [(c.hash, c.size) for c in chunks] == whole
    assert digest == hash_bytes(data)
