"""Archives: every supported format unpacks; malicious archives are refused before anything
is written, and nothing ever lands outside the target."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from assay.archives import ArchiveError, Limits, unpack


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_text()
    return out


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str, *, hard: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def _good_tar(path: Path, compression: str = "") -> Path:
    with tarfile.open(path, f"w:{compression}" if compression else "w") as tar:
        _add_file(tar, "bin/solver", b"#!/bin/sh\necho solved\n", 0o755)
        _add_file(tar, "share/data.txt", b"data\n")
        _add_link(tar, "bin/latest", "solver")
    return path


@pytest.mark.parametrize(
    ("name", "compression"),
    [("b.tar", ""), ("b.tar.gz", "gz"), ("b.tgz", "gz"), ("b.tar.bz2", "bz2"), ("b.tar.xz", "xz")],
)
def test_tar_formats_unpack_with_modes_and_links(tmp_path, name, compression):
    archive = _good_tar(tmp_path / name, compression)
    target = tmp_path / "out"
    result = unpack(archive, target)
    assert _tree(target) == {
        "bin/latest": "-> solver",
        "bin/solver": "#!/bin/sh\necho solved\n",
        "share/data.txt": "data\n",
    }
    assert os.stat(target / "bin/solver").st_mode & stat.S_IXUSR
    assert result.files == 2


def test_tar_zst_unpacks(tmp_path):
    plain = _good_tar(tmp_path / "plain.tar")
    archive = tmp_path / "b.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out/share/data.txt").read_text() == "data\n"


def test_zip_unpacks_keeping_executable_bits_and_symlinks(tmp_path):
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("bin/solver")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(info, "#!/bin/sh\necho solved\n")
        zf.writestr("share/data.txt", "data\n")
        link = zipfile.ZipInfo("bin/latest")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "solver")
    unpack(archive, tmp_path / "out")
    assert _tree(tmp_path / "out")["bin/latest"] == "-> solver"
    assert os.stat(tmp_path / "out/bin/solver").st_mode & stat.S_IXUSR


def test_an_overlay_replaces_changed_files_and_keeps_the_rest(tmp_path):
    base = _good_tar(tmp_path / "base.tar")
    delta = tmp_path / "delta.tar.gz"
    with tarfile.open(delta, "w:gz") as tar:
        _add_file(tar, "share/data.txt", b"data v2\n")
        _add_file(tar, "share/new.txt", b"new\n")
    target = tmp_path / "out"
    unpack(base, target)
    unpack(delta, target)
    tree = _tree(target)
    assert tree["share/data.txt"] == "data v2\n" and tree["share/new.txt"] == "new\n"
    assert tree["bin/solver"] == "#!/bin/sh\necho solved\n"


# --- malicious archives ---------------------------------------------------------------------


def _evil_tar(path: Path, build) -> Path:
    with tarfile.open(path, "w") as tar:
        _add_file(tar, "harmless.txt", b"first member, must not be written either\n")
        build(tar)
    return path


EVIL_TARS = {
    "absolute path": (lambda t: _add_file(t, "/tmp/assay-evil-abs", b"x"), "absolute path"),
    "dot-dot": (lambda t: _add_file(t, "sub/../../escape.txt", b"x"), "climbs out with '..'"),
    "absolute symlink": (
        lambda t: _add_link(t, "passwd", "/etc/passwd"),
        "points to the absolute path '/etc/passwd'",
    ),
    "relative symlink escaping": (
        lambda t: _add_link(t, "sub/up", "../../outside"),
        "points outside the target",
    ),
    "hard link outside": (
        lambda t: _add_link(t, "hard", "../outside.txt", hard=True),
        "climbs out with '..'",
    ),
}


@pytest.mark.parametrize("case", sorted(EVIL_TARS))
def test_malicious_tar_is_refused_and_writes_nothing(tmp_path, case):
    build, message = EVIL_TARS[case]
    archive = _evil_tar(tmp_path / "evil.tar", build)
    target = tmp_path / "box" / "target"
    with pytest.raises(ArchiveError) as err:
        unpack(archive, target)
    assert message in str(err.value) and "refusing to unpack" in str(err.value)
    assert str(archive) in str(err.value)
    # Not even the harmless first member, nor the target directory unpack made.
    assert list((tmp_path / "box").iterdir()) == []
    assert not Path("/tmp/assay-evil-abs").exists()


def test_symlink_then_write_through_it_is_refused(tmp_path):
    """A classic: a symlink to a directory outside, then a file 'inside' that symlink."""
    archive = tmp_path / "evil.tar"
    outside = tmp_path / "outside"
    outside.mkdir()
    with tarfile.open(archive, "w") as tar:
        _add_link(tar, "link", str(outside))
        _add_file(tar, "link/pwned.txt", b"x")
    with pytest.raises(ArchiveError):
        unpack(archive, tmp_path / "target")
    assert list(outside.iterdir()) == []


def test_device_files_are_refused(tmp_path):
    archive = tmp_path / "dev.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("null")
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = 1, 3
        tar.addfile(info)
    with pytest.raises(ArchiveError, match="is a device or FIFO"):
        unpack(archive, tmp_path / "target")


@pytest.mark.parametrize(
    ("name", "message"),
    [("/etc/evil", "absolute path"), ("../evil", "climbs out"), ("a/../../evil", "climbs out")],
)
def test_malicious_zip_is_refused(tmp_path, name, message):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("harmless.txt", "x")
        zf.writestr(name, "x")
    with pytest.raises(ArchiveError, match=message):
        unpack(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_zip_symlink_escaping_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("up")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../etc")
    with pytest.raises(ArchiveError, match="points outside the target"):
        unpack(archive, tmp_path / "target")


def test_size_and_member_limits(tmp_path):
    archive = tmp_path / "big.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(5):
            _add_file(tar, f"f{i}", b"x" * 1000)
    with pytest.raises(ArchiveError, match="more than 3 members"):
        unpack(archive, tmp_path / "a", Limits(max_members=3))
    with pytest.raises(ArchiveError, match=r"unpacks to more than 2\.0 KiB"):
        unpack(archive, tmp_path / "b", Limits(max_bytes=2048))
    assert unpack(archive, tmp_path / "c", Limits(max_bytes=5000, max_members=5)).bytes == 5000


def test_zip_bomb_declared_small_is_stopped_by_real_size(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * 200_000)
    with pytest.raises(ArchiveError, match="unpacks to more than"):
        unpack(archive, tmp_path / "t", Limits(max_bytes=100_000))


def test_missing_unknown_and_corrupt_archives(tmp_path):
    with pytest.raises(ArchiveError, match="no such archive"):
        unpack(tmp_path / "nope.tar.gz", tmp_path / "t")
    odd = tmp_path / "build.rar"
    odd.write_bytes(b"x")
    with pytest.raises(ArchiveError, match=r"not an archive assay can unpack; use one of \.tar"):
        unpack(odd, tmp_path / "t")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        unpack(broken, tmp_path / "t")


# --- names, modes, duplicates and links: what is kept, what is refused ------------------------


def _tar(path: Path, build) -> Path:
    with tarfile.open(path, "w") as tar:
        build(tar)
    return path


def test_a_backslash_is_an_ordinary_character_in_tar_and_unix_zip(tmp_path):
    tar = _tar(tmp_path / "b.tar", lambda t: _add_file(t, "back\\slash", b"x\n"))
    zipped = tmp_path / "b.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("back\\slash", "x\n")  # made on Unix: "made by" 3
    for archive in (tar, zipped):
        out = tmp_path / f"out-{archive.name}"
        unpack(archive, out)
        assert [p.name for p in out.iterdir()] == ["back\\slash"]
        assert (out / "back\\slash").read_text() == "x\n"


def test_a_zip_made_on_windows_has_backslashes_as_separators(tmp_path):
    archive = tmp_path / "w.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("dir\\file.txt")
        info.create_system = 0  # MS-DOS / Windows
        zf.writestr(info, "x\n")
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out" / "dir" / "file.txt").read_text() == "x\n"


def test_names_keep_newlines_and_lose_dot_slash_prefixes(tmp_path):
    def build(tar):
        _add_file(tar, "./sub//a.txt", b"a\n")
        _add_file(tar, "line\nbreak.txt", b"b\n")

    unpack(_tar(tmp_path / "n.tar", build), tmp_path / "out")
    assert _tree(tmp_path / "out") == {"sub/a.txt": "a\n", "line\nbreak.txt": "b\n"}


def test_special_mode_bits_and_group_other_write_are_dropped(tmp_path):
    def build(tar):
        _add_file(tar, "suid", b"x", 0o4777)
        _add_file(tar, "sgid-sticky", b"x", 0o3666)
        _add_file(tar, "group-exec-only", b"x", 0o010)
        _add_file(tar, "read-only", b"x", 0o444)

    out = tmp_path / "out"
    unpack(_tar(tmp_path / "m.tar", build), out)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {
        "suid": 0o755,
        "sgid-sticky": 0o644,
        "group-exec-only": 0o600,
        "read-only": 0o644,
    }


def test_a_later_file_replaces_an_earlier_one_and_a_hard_link_keeps_the_old_content(tmp_path):
    def build(tar):
        _add_file(tar, "f", b"old\n")
        _add_link(tar, "h", "f", hard=True)
        _add_link(tar, "f", "f", hard=True)  # what `tar cf x.tar f f` writes: harmless
        _add_file(tar, "f", b"new\n")

    out = tmp_path / "out"
    unpack(_tar(tmp_path / "d.tar", build), out)
    assert (out / "f").read_text() == "new\n" and (out / "h").read_text() == "old\n"


def test_deep_trees_unpack_to_256_levels_and_are_refused_beyond(tmp_path):
    deep = "/".join(["d"] * 255) + "/leaf.txt"  # 256 levels
    out = tmp_path / "out"
    unpack(_tar(tmp_path / "deep.tar", lambda t: _add_file(t, deep, b"deep\n")), out)
    assert (out / deep).read_text() == "deep\n"
    deeper = "/".join(["d"] * 256) + "/leaf.txt"  # shutil.rmtree, for one, recurses per level
    archive = _tar(tmp_path / "deeper.tar", lambda t: _add_file(t, deeper, b"deep\n"))
    with pytest.raises(ArchiveError, match="is 257 levels deep; assay unpacks at most 256"):
        unpack(archive, tmp_path / "out2")


def test_a_zip_directory_is_told_by_its_mode_too(tmp_path):
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("folder")  # no trailing slash, but a directory's mode
        info.external_attr = (stat.S_IFDIR | 0o755) << 16
        zf.writestr(info, b"")
        zf.writestr("folder/inside.txt", "x\n")
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out" / "folder" / "inside.txt").read_text() == "x\n"


# --- headers tarfile would read whole ----------------------------------------------------------


def test_an_oversized_pax_header_is_refused_before_it_is_read(tmp_path):
    archive = tmp_path / "pax.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.pax_headers = {"comment": "a" * (4 * 2**20)}
        tar.addfile(info, io.BytesIO(b""))
    assert archive.stat().st_size < 64 * 1024
    with pytest.raises(ArchiveError, match=r"a member has a header of 4,194,\d+ bytes"):
        unpack(archive, tmp_path / "out")


def test_global_pax_headers_are_limited_in_total(tmp_path):
    """Each one below the limit of one header, but tarfile keeps them all: three of 500 kB."""
    headers = b"".join(
        tarfile.TarInfo._create_pax_generic_header(  # type: ignore[attr-defined]
            {f"k{i}": "v" * 500_000}, tarfile.XGLTYPE, "utf-8"
        )
        for i in range(3)
    )
    member = tarfile.TarInfo("f").tobuf(tarfile.PAX_FORMAT)
    archive = tmp_path / "global.tar.gz"
    archive.write_bytes(gzip.compress(headers + member + bytes(1024)))
    with pytest.raises(ArchiveError, match="more than 1,048,576 bytes of global pax headers"):
        unpack(archive, tmp_path / "out")


# --- overlays: the target's own content takes part in the checks ------------------------------


def test_an_overlay_cannot_chain_through_a_link_the_base_made(tmp_path):
    target = tmp_path / "box" / "target"
    unpack(_tar(tmp_path / "base.tar", lambda t: _add_link(t, "a", ".")), target)
    overlay = _tar(tmp_path / "over.tar", lambda t: _add_link(t, "b", "a/.."))
    with pytest.raises(ArchiveError, match=r"member 'b' points outside the target \('a/\.\.'\)"):
        unpack(overlay, target)
    assert sorted(os.listdir(target)) == ["a"]


def test_an_overlay_cannot_write_below_a_link_already_in_the_target(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "link").symlink_to(outside)  # the user's own link: tolerated, never followed
    archive = _tar(tmp_path / "o.tar", lambda t: _add_file(t, "link/x.txt", b"x"))
    with pytest.raises(ArchiveError, match="lies below 'link', which is a symlink already in"):
        unpack(archive, target)
    assert list(outside.iterdir()) == []

    # A directory member in its place replaces the link (the link, not what it points to).
    def build(tar):
        info = tarfile.TarInfo("link")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        _add_file(tar, "link/x.txt", b"x")

    unpack(_tar(tmp_path / "o2.tar", build), target)
    assert (target / "link").is_dir() and not (target / "link").is_symlink()
    assert (target / "link" / "x.txt").read_text() == "x" and list(outside.iterdir()) == []


def test_a_link_of_the_target_that_already_left_it_does_not_block_an_overlay(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "python").symlink_to("/usr/bin/python3")
    unpack(_tar(tmp_path / "o.tar", lambda t: _add_file(t, "new.txt", b"n\n")), target)
    assert (target / "new.txt").read_text() == "n\n"


def test_a_file_member_replaces_a_directory_of_the_target_without_following_its_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    target = tmp_path / "target"
    (target / "d").mkdir(parents=True)
    (target / "d" / "out").symlink_to(outside)
    unpack(_tar(tmp_path / "o.tar", lambda t: _add_file(t, "d", b"file now\n")), target)
    assert (target / "d").read_text() == "file now\n"
    assert (outside / "keep.txt").read_text() == "keep\n"


# --- failures midway leave nothing behind -----------------------------------------------------


def test_a_write_failing_midway_removes_what_unpack_made(tmp_path, monkeypatch):
    from assay.store.agent import treewrite

    real = treewrite.TreeWriter.write_file
    calls = []

    def fault_injecting_write_file(self, rel, stream, mode):
        calls.append(rel)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, rel, stream, mode)

    monkeypatch.setattr(treewrite.TreeWriter, "write_file", fault_injecting_write_file)

    def build(tar):
        for i in range(5):
            _add_file(tar, f"sub{i}/f.txt", b"x\n")

    fresh = tmp_path / "fresh"
    with pytest.raises(ArchiveError, match="No space left on device"):
        unpack(_tar(tmp_path / "a.tar", build), fresh)
    assert not fresh.exists()
    calls.clear()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("mine\n")
    with pytest.raises(ArchiveError, match="No space left on device"):
        unpack(tmp_path / "a.tar", existing)
    assert os.listdir(existing) == ["mine.txt"]


def test_an_archive_changed_between_the_two_passes_is_refused(tmp_path, monkeypatch):
    from assay import archives

    archive = _tar(tmp_path / "a.tar", lambda t: _add_file(t, "a.txt", b"a\n"))
    real = archives.members
    passes = []

    def fault_injecting_members(path, what, *opened):
        passes.append(path)
        if len(passes) == 2:  # between the check and the writing, the file is rewritten
            _tar(path, lambda t: _add_link(t, "a.txt", "/etc/passwd"))
        return real(path, what, *opened)

    monkeypatch.setattr(archives, "members", fault_injecting_members)
    with pytest.raises(ArchiveError, match="changed while being unpacked"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
