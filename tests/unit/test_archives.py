"""Archives: every supported format unpacks; malicious archives are refused before anything
is written, and nothing ever lands outside the target."""

from __future__ import annotations

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
