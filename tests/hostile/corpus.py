"""A corpus of hostile archives, built at test time (no binary archive is committed).

Each :class:`Hostile` is a list of members that must be refused, wherever assay meets the
archive, with a message naming :attr:`Hostile.names`. Members may aim at the sandbox the
test watches: ``{sb}`` in a name or link stands for the sandbox's absolute path without its
leading ``/`` (``b29/{sb}/FILE`` climbs to ``/`` through the chain, then down into it).

Every member aims *into the sandbox* (a relative climb of at most one level above the
target, or an absolute path under the sandbox): an implementation that fails to refuse them
damages the sandbox, never the machine. Keep it so when adding entries: these archives run
as root in CI, and against old code when a fix is checked to fail before.

Run it to write every archive into a directory, to try them by hand::

    python -m tests.hostile.corpus OUTDIR SANDBOX
"""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("tar", "tar.gz", "zip")
TAR_ONLY = ("tar", "tar.gz")


@dataclass(frozen=True)
class M:
    """One member: ``kind`` is file, dir, symlink, hardlink, chr, fifo or sparse."""

    name: str
    kind: str = "file"
    link: str = ""
    data: bytes = b"hostile\n"
    mode: int = 0o644
    pax: dict[str, str] = field(default_factory=dict)  # tar: extra pax header fields
    windows: bool = False  # zip: "made by" MS-DOS (backslashes are separators)


@dataclass(frozen=True)
class Hostile:
    id: str
    members: tuple[M, ...]
    names: str  # the member the refusal must name
    formats: tuple[str, ...] = FORMATS
    tar_format: int = tarfile.GNU_FORMAT
    global_pax: dict[str, str] = field(default_factory=dict)

    def resolved(self, sandbox: Path) -> tuple[list[M], str]:
        """The members and the expected name, aimed at ``sandbox``."""
        sb = str(sandbox).lstrip("/")
        members = [
            M(
                m.name.replace("{sb}", sb),
                m.kind,
                m.link.replace("{sb}", sb),
                m.data,
                m.mode,
                {k: v.replace("{sb}", sb) for k, v in m.pax.items()},
                m.windows,
            )
            for m in self.members
        ]
        return members, self.names.replace("{sb}", sb)


def _chain(last: M, links: int = 30) -> tuple[M, ...]:
    """``a -> .``, ``b00 -> a/..``, ``b01 -> b00/..`` ...: ``bNN`` is NN+1 levels up."""
    chain = [M("a", "symlink", ".")]
    previous = "a"
    for i in range(links):
        chain.append(M(f"b{i:02d}", "symlink", f"{previous}/.."))
        previous = f"b{i:02d}"
    return (*chain, last)


def _parents(path: str) -> tuple[M, ...]:
    """Directory entries for ``path`` and every parent but the first component (what the
    importer of an older assay added for a member's unlisted parents)."""
    parts = path.split("/")
    return tuple(M("/".join(parts[:i]), "dir") for i in range(2, len(parts) + 1))


CORPUS: list[Hostile] = [
    # --- the symlink chain of issue 8, and its variants -------------------------------------
    Hostile("chain-file", _chain(M("b29/{sb}/ESCAPED")), "b29/{sb}/ESCAPED"),
    Hostile("chain-over-dir", _chain(M("b29/{sb}/victim")), "b29/{sb}/victim"),
    Hostile("chain-dir", _chain(M("b29/{sb}/newdir", "dir")), "b29/{sb}/newdir"),
    Hostile("chain-link-only", _chain(M("out", "symlink", "b29/{sb}")), "b00"),
    Hostile(
        "chain-short",
        (M("sub", "dir"), M("sub/l", "symlink", ".."), M("up", "symlink", "sub/l/..")),
        "up",
    ),
    Hostile(
        "chain-out-of-order",
        (M("x", "symlink", "b/victim"), M("b", "symlink", "a/.."), M("a", "symlink", ".")),
        "x",
    ),
    Hostile("link-loop", (M("l1", "symlink", "l2"), M("l2", "symlink", "l1")), "l1"),
    # --- classic escapes ---------------------------------------------------------------------
    Hostile("absolute-name", (M("/{sb}/abs-escape"),), "/{sb}/abs-escape"),
    Hostile("dotdot-name", (M("../escape.txt"),), "../escape.txt"),
    Hostile("dotdot-inner", (M("sub/../../escape.txt"),), "sub/../../escape.txt"),
    Hostile("absolute-symlink", (M("link", "symlink", "/{sb}/victim"),), "link"),
    Hostile(
        "absolute-symlink-then-file",
        (M("link", "symlink", "/{sb}/victim"), M("link/pwned.txt")),
        "link",
    ),
    Hostile("relative-symlink-out", (M("sub/up", "symlink", "../../outside"),), "sub/up"),
    Hostile(
        "inside-symlink-then-file",  # not out, but a write through a link all the same
        (M("sub", "dir"), M("l", "symlink", "sub"), M("l/x.txt")),
        "l/x.txt",
    ),
    # --- a name that changes kind ------------------------------------------------------------
    Hostile("file-then-child", (M("d"), M("d/x.txt")), "d/x.txt"),
    Hostile("child-then-file", (M("d/x.txt"), M("d")), "d"),
    Hostile(
        "symlink-then-dir",
        (M("sub", "dir"), M("d", "symlink", "sub"), M("d", "dir"), M("d/x.txt")),
        "d",
    ),
    Hostile("dir-then-symlink", (M("d", "dir"), M("d/x.txt"), M("d", "symlink", "..")), "d"),
    Hostile("root-as-symlink", (M(".", "symlink", "/{sb}"),), "."),
    # --- hard links --------------------------------------------------------------------------
    Hostile(
        "hardlink-to-symlink",
        (
            M("sub/deep", "dir"),
            M("sub/deep/l", "symlink", "../.."),
            M("h", "hardlink", "sub/deep/l"),
        ),
        "h",
        TAR_ONLY,
    ),
    Hostile("hardlink-to-later", (M("h", "hardlink", "later.txt"), M("later.txt")), "h", TAR_ONLY),
    Hostile("hardlink-to-dir", (M("sub", "dir"), M("h", "hardlink", "sub")), "h", TAR_ONLY),
    Hostile("hardlink-outside", (M("h", "hardlink", "../outside.txt"),), "h", TAR_ONLY),
    Hostile("hardlink-absolute", (M("h", "hardlink", "/{sb}/victim/precious.txt"),), "h", TAR_ONLY),
    # --- special files -----------------------------------------------------------------------
    Hostile("device", (M("null", "chr"),), "null", TAR_ONLY),
    Hostile("fifo", (M("pipe", "fifo"),), "pipe", TAR_ONLY),
    Hostile("sparse", (M("holes.bin", "sparse"),), "holes.bin", TAR_ONLY),
    Hostile(
        "pax-sparse",
        (M("holes.bin", pax={"GNU.sparse.map": "0,8", "GNU.sparse.size": "4096"}),),
        "holes.bin",
        TAR_ONLY,
        tarfile.PAX_FORMAT,
    ),
    # --- header tricks: the name the check sees is the one written ---------------------------
    Hostile(
        "pax-path",
        (M("harmless.txt", pax={"path": "../pax-escape.txt"}),),
        "../pax-escape.txt",
        TAR_ONLY,
        tarfile.PAX_FORMAT,
    ),
    Hostile(
        "pax-linkpath",
        (M("harmless", "symlink", "target", pax={"linkpath": "/{sb}/victim"}),),
        "harmless",
        TAR_ONLY,
        tarfile.PAX_FORMAT,
    ),
    Hostile(
        "pax-global-path",
        (M("harmless.txt"),),
        "../global-escape.txt",
        TAR_ONLY,
        tarfile.PAX_FORMAT,
        {"path": "../global-escape.txt"},
    ),
    Hostile("gnu-longname", (M("../" + "n" * 150 + ".txt"),), "../" + "n" * 150 + ".txt", TAR_ONLY),
    Hostile(
        "gnu-longlink",
        (M("long", "symlink", "../" * 60 + "{sb}"),),
        "long",
        TAR_ONLY,
    ),
    # --- names no file system takes ----------------------------------------------------------
    Hostile("name-max", (M("x" * 300),), "x" * 300),
    Hostile("path-max", (M("/".join(["d" * 200] * 21) + "/f"),), "/".join(["d" * 200] * 21) + "/f"),
    Hostile("not-utf8", (M("caf\udce9.txt"),), "caf\udce9.txt", TAR_ONLY),
    # --- zip specials ------------------------------------------------------------------------
    Hostile(
        "zip-windows-dotdot",
        (M("..\\escape.txt", windows=True),),
        "../escape.txt",  # a Windows zip's backslashes are its separators
        ("zip",),
    ),
    Hostile("zip-huge-link", (M("big", "symlink", "x/" * 3000),), "big", ("zip",)),
    Hostile("zip-empty-link", (M("empty", "symlink", ""),), "empty", ("zip",)),
]

BY_ID = {h.id: h for h in CORPUS}


def cases() -> Iterator[tuple[str, str]]:
    """(corpus id, format) pairs, for parametrizing."""
    for hostile in CORPUS:
        for fmt in hostile.formats:
            yield hostile.id, fmt


def build(hostile: Hostile, fmt: str, folder: Path, sandbox: Path) -> tuple[Path, str]:
    """Write ``hostile`` as a ``fmt`` archive in ``folder``; (its path, the member name the
    refusal must name)."""
    members, names = hostile.resolved(sandbox)
    path = folder / f"{hostile.id}.{fmt}"
    if fmt == "zip":
        write_zip(path, members)
    else:
        write_tar(
            path,
            members,
            "gz" if fmt.endswith("gz") else "",
            hostile.tar_format,
            hostile.global_pax,
        )
    return path, names


# --- writers -----------------------------------------------------------------------------------


def write_tar(
    path: Path,
    members: list[M],
    compression: str = "",
    tar_format: int = tarfile.GNU_FORMAT,
    global_pax: dict[str, str] | None = None,
) -> Path:
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw,
        mode="w",
        format=tar_format,
        pax_headers=global_pax or None,
        errors="surrogateescape",  # a name with surrogates is written as the bytes they stand for
    ) as tar:
        for m in members:
            if m.kind == "sparse":
                tar.fileobj.write(_sparse_header(m.name))  # type: ignore[union-attr]
                tar.fileobj.write(m.data.ljust(512, b"\0"))  # type: ignore[union-attr]
                tar.offset += 1024
                continue
            info = tarfile.TarInfo(m.name)
            info.mode = m.mode
            info.pax_headers = dict(m.pax)
            data = None
            if m.kind == "file":
                info.size = len(m.data)
                data = io.BytesIO(m.data)
            else:
                info.type = {
                    "dir": tarfile.DIRTYPE,
                    "symlink": tarfile.SYMTYPE,
                    "hardlink": tarfile.LNKTYPE,
                    "chr": tarfile.CHRTYPE,
                    "fifo": tarfile.FIFOTYPE,
                }[m.kind]
                info.linkname = m.link
            tar.addfile(info, data)
    if compression == "gz":
        import gzip

        path.write_bytes(gzip.compress(raw.getvalue()))
    else:
        path.write_bytes(raw.getvalue())
    return path


def _sparse_header(name: str) -> bytes:
    """An old-GNU sparse member header (type ``S``): one region of 8 bytes in 4 KiB."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 512
    buf = bytearray(info.tobuf(tarfile.GNU_FORMAT)[:512])
    buf[386:398] = b"%011o\0" % 0
    buf[398:410] = b"%011o\0" % 8
    buf[482] = 0  # no extension headers
    buf[483:495] = b"%011o\0" % 4096  # real size
    buf[148:156] = b" " * 8
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def write_zip(path: Path, members: list[M]) -> Path:
    import warnings

    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        for m in members:
            name = m.name + "/" if m.kind == "dir" and not m.name.endswith("/") else m.name
            info = zipfile.ZipInfo(name)
            info.create_system = 0 if m.windows else 3
            if m.kind == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, m.link)
            elif m.kind == "dir":
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                zf.writestr(info, b"")
            elif m.kind == "file":
                info.external_attr = (stat.S_IFREG | m.mode) << 16
                zf.writestr(info, m.data)
            else:
                raise ValueError(f"zip cannot hold a {m.kind}")
    return path


# --- watching the sandbox ----------------------------------------------------------------------


def make_sandbox(sandbox: Path) -> None:
    """A sandbox with something to lose: a directory with a file, and a loose file."""
    (sandbox / "victim").mkdir(parents=True)
    (sandbox / "victim" / "precious.txt").write_text("keep me\n")
    (sandbox / "bystander.txt").write_text("untouched\n")


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[object, ...]]:
    """Everything under ``root`` (but ``skip``), never following links: type, mode, and a
    file's size and content or a link's target."""
    import hashlib

    state: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if skip is not None and (here == skip or skip in here.parents):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = here / name
            if skip is not None and path == skip:
                continue
            info = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                state[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                state[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[rel] = ("file", stat.S_IMODE(info.st_mode), info.st_size, digest)
    return state


if __name__ == "__main__":
    out, box = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for ident, fmt in cases():
        print(build(BY_ID[ident], fmt, out, box)[0])


# --- hostile trees: what a store written by an older assay (or another store) may hold --------


@dataclass(frozen=True)
class HostileTree:
    id: str
    entries: tuple[M, ...]  # files, dirs and symlinks, as a tree lists them (any order)
    names: str


TREES: list[HostileTree] = [
    HostileTree(
        "chain-file",
        (*_chain(M("b29/{sb}/ESCAPED"))[:-1], *_parents("b29/{sb}"), M("b29/{sb}/ESCAPED")),
        "b29/{sb}",
    ),
    HostileTree(
        "chain-over-dir",
        (*_chain(M("x"))[:-1], *_parents("b29/{sb}"), M("b29/{sb}/victim")),
        "b29/{sb}",
    ),
    HostileTree("chain-link-only", (*_chain(M("x"))[:-1], M("out", "symlink", "b29/{sb}")), "b00"),
    HostileTree("file-and-parent", (M("d"), M("d/x.txt")), "d/x.txt"),
    HostileTree("dotdot-path", (M("../escape.txt"),), "../escape.txt"),
    HostileTree("absolute-path", (M("/{sb}/abs-escape"),), "/{sb}/abs-escape"),
    HostileTree("relative-symlink-out", (M("up", "symlink", "../outside"),), "up"),
    HostileTree(
        "absolute-symlink-then-file",
        (M("link", "symlink", "/{sb}/victim"), M("link/pwned.txt")),
        "link/pwned.txt",
    ),
    HostileTree("not-normalised", (M("sub//x.txt"),), "sub//x.txt"),
    HostileTree("empty-path", (M(""),), ""),
    HostileTree("duplicate", (M("x.txt"), M("x.txt", data=b"other\n")), "x.txt"),
    HostileTree("name-max", (M("x" * 300),), "x" * 300),
]

TREES_BY_ID = {t.id: t for t in TREES}
