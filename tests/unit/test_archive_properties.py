"""Property: whatever an archive (or a stored tree) holds, writing it out changes nothing
outside the target. Random mixes of files, directories, symlinks (relative, absolute, with
``..``), hard links, ``..`` and absolute names are unpacked (and put, then got) into a fresh
target inside a sandbox; afterwards the sandbox outside the target is unchanged, the call
either succeeded or raised the one error type of its API, and every link it left resolves
inside the target.

Deterministic (``derandomize``): the same examples on every run, so it cannot flake in CI.

Safe even against a broken implementation (these tests run as root here): every absolute
name or link points into the sandbox, and the sandbox sits deeper below a scratch directory
than any generated ``..`` chain can climb, so whatever goes wrong stays in scratch space."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assay.archives import ArchiveError, unpack
from assay.store import Store, StoreError
from assay.store.trees import Entry, make_tree, put_legacy_tree, put_tree
from tests.hostile.corpus import M, make_sandbox, snapshot, write_tar, write_zip

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Few names, so that links often lead through each other (chains) and names collide.
_COMPONENTS = st.sampled_from(["a", "b", "c", "..", ".", "victim"])
_RELATIVE = st.lists(_COMPONENTS, min_size=1, max_size=4).map("/".join)
_NAMES = st.one_of(
    _RELATIVE,
    _RELATIVE.map(lambda p: "/{sb}/" + p),  # aimed into the sandbox, absolutely
)
_TARGETS = st.one_of(
    _RELATIVE,
    _RELATIVE.map(lambda p: "../" + p),
    st.sampled_from(["/{sb}", "/{sb}/victim", ".", ".."]),
)
_MAX_MEMBERS = 8
# How far up a broken writer could get: every link climbing 5 levels, one after the other,
# and then a name's 4; the sandbox is deeper than that below the scratch directory.
_MAX_CLIMB = _MAX_MEMBERS * 5 + 4
_PADDING = "/".join(["p"] * (_MAX_CLIMB + 8))


@st.composite
def _member(draw: st.DrawFn) -> M:
    kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink"]))
    name = draw(_NAMES)
    link = draw(_TARGETS) if kind in ("symlink", "hardlink") else ""
    return M(name, kind, link)


_ARCHIVES = st.lists(_member(), min_size=1, max_size=_MAX_MEMBERS)

# The chain of issue 8, aimed at the sandbox: ``b`` is the target's parent (the sandbox),
# so ``b/victim`` replaces the sandbox's directory of that name with a file.
_CHAIN = [
    M("a", "symlink", "."),
    M("b", "symlink", "a/.."),
    M("b/victim"),
]


def _aim(members: list[M], sandbox: Path) -> list[M]:
    sb = str(sandbox).lstrip("/")
    return [
        M(m.name.replace("{sb}", sb), m.kind, m.link.replace("{sb}", sb), m.data) for m in members
    ]


def _links_stay_inside(target: Path) -> None:
    root = os.path.realpath(target)
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and not os.readlink(path).startswith("/"):
                resolved = os.path.realpath(path)
                assert resolved == root or resolved.startswith(root + os.sep), (path, resolved)


@SETTINGS
@given(members=_ARCHIVES, fmt=st.sampled_from(["tar", "zip"]), overlay=st.booleans())
@example(members=_CHAIN, fmt="tar", overlay=False)
@example(members=_CHAIN, fmt="zip", overlay=True)
def test_unpacking_anything_changes_nothing_outside_the_target(members, fmt, overlay):
    with tempfile.TemporaryDirectory() as scratch:
        sandbox = Path(scratch) / _PADDING / "sandbox"
        make_sandbox(sandbox)
        target = sandbox / "target"
        if overlay:  # a target that already holds a file, a directory and a link inside
            (target / "a").mkdir(parents=True)
            (target / "a" / "old.txt").write_text("old\n")
            (target / "b").symlink_to("a")
        aimed = _aim(members, sandbox)
        archive = Path(scratch) / f"random.{fmt}"
        if fmt == "zip":
            write_zip(archive, [m if m.kind != "hardlink" else M(m.name) for m in aimed])
        else:
            write_tar(archive, aimed)
        before = snapshot(sandbox, skip=target)
        try:
            unpack(archive, target)
        except ArchiveError:
            pass
        assert snapshot(sandbox, skip=target) == before
        if target.exists():
            _links_stay_inside(target)


@SETTINGS
@given(members=_ARCHIVES)
@example(members=_CHAIN)
def test_putting_and_getting_anything_changes_nothing_outside_the_target(members):
    with tempfile.TemporaryDirectory() as scratch:
        sandbox = Path(scratch) / _PADDING / "sandbox"
        make_sandbox(sandbox)
        archive = write_tar(Path(scratch) / "random.tar", _aim(members, sandbox))
        store = Store(Path(scratch) / "store")
        target = sandbox / "target"
        before = snapshot(sandbox, skip=target)
        try:
            store.put("random", archive)
            store.get("random", target)
        except (ArchiveError, StoreError):
            pass
        assert snapshot(sandbox, skip=target) == before
        if target.exists():
            _links_stay_inside(target)


@st.composite
def _tree_entries(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """Entries as a damaged or hostile store could hold them: any path, any link."""
    entries = draw(
        st.lists(
            st.tuples(st.sampled_from(["file", "dir", "symlink"]), _NAMES, _TARGETS),
            min_size=1,
            max_size=_MAX_MEMBERS,
        )
    )
    return [(kind, name, link) for kind, name, link in entries]


@SETTINGS
@given(entries=_tree_entries(), writable=st.booleans())
def test_staging_any_stored_tree_changes_nothing_outside_the_target(entries, writable):
    with tempfile.TemporaryDirectory() as scratch:
        sandbox = Path(scratch) / _PADDING / "sandbox"
        make_sandbox(sandbox)
        sb = str(sandbox).lstrip("/")
        store = Store(Path(scratch) / "store")
        store._ready()
        digest, _ = store.objects.put_bytes("blobs", b"x\n")
        tree = []
        for kind, name, link in entries:
            path = name.replace("{sb}", sb)
            if kind == "file":
                tree.append(Entry(path, "file", mode=0o644, size=2, hash=digest))
            elif kind == "dir":
                tree.append(Entry(path, "dir", mode=0o755))
            else:
                tree.append(Entry(path, "symlink", mode=0o777, target=link.replace("{sb}", sb)))
        targets = sandbox / "targets"
        before = snapshot(sandbox, skip=targets)
        # stored as assay stores trees (one object per directory), and as a store made by an
        # older assay holds them (one manifest, which can say what directories cannot)
        for put in (put_tree, put_legacy_tree):
            try:
                digest_tree = put(store.objects, make_tree(tree))
            except StoreError:
                assert put is put_tree  # a name no directory object can hold
                continue
            target = targets / put.__name__
            try:
                store.stage(digest_tree, target, writable=["*"] if writable else [])
            except StoreError:
                pass
            assert snapshot(sandbox, skip=targets) == before
            if target.exists():
                _links_stay_inside(target)
