"""Which file names are archives, and of what kind: a check by name only, cheap to import
(the test-definition layer checks artifact paths when a test file is loaded)."""

from __future__ import annotations

from pathlib import Path

TAR_SUFFIXES = {
    ".tar": "",
    ".tar.gz": "gz",
    ".tgz": "gz",
    ".tar.bz2": "bz2",
    ".tbz2": "bz2",
    ".tar.xz": "xz",
    ".txz": "xz",
    ".tar.zst": "zst",
    ".tzst": "zst",
}
SUFFIXES = (*TAR_SUFFIXES, ".zip")


def kind(path: Path) -> str | None:
    """``"tar"``, ``"zip"`` or None, from the file name."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if any(name.endswith(s) for s in TAR_SUFFIXES):
        return "tar"
    return None


def is_archive(path: Path) -> bool:
    return kind(path) is not None
