"""Binary files (byte for byte), telling text from binary, and refusing what is no file."""

from __future__ import annotations

import codecs
import contextlib
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .options import Options
    from .result import Result

_CHUNK = 1 << 20
_SNIFF = 8192
_BEFORE = 8  # bytes shown before the first difference
_WINDOW = 24  # bytes shown in all

MAX_OUTPUT_BYTES = 256 * 1024 * 1024
"""Bytes of one output file that assay reads whole: the text sanity and metric functions
search, a JSON or CSV file compared by parsing it. A larger file fails its case (naming it,
its size and this cap) instead of filling the runner's memory; text and binary comparisons
and the tails shown of outputs stream, and have no such cap (docs/test-api.md, Sanity)."""

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


class NotAFile(ValueError):
    """What :func:`open_file` raises for a path that is no regular file."""


def not_a_file(path: str, info: os.stat_result | None = None) -> str | None:
    """What ``path`` is when it is no regular file (reading a FIFO would wait forever);
    ``info``: its ``os.stat``, when the caller has it."""
    mode = (info or os.stat(path)).st_mode
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "special file")


def open_file(path: str) -> int:
    """A descriptor of the regular file ``path``, for reading. What was looked at as a file
    may have been swapped since (by a process the case left behind, or another case): a
    FIFO opened without ``O_NONBLOCK`` would wait forever for a writer, so it is opened at
    once and refused (:class:`ValueError`, naming what it is), as anything but a file."""
    return checked(path, open_raw(path))


def checked(path: str, fd: int) -> int:
    """``fd`` (of ``path``) when it is a regular file's; closed, :class:`NotAFile` else."""
    _checked_info(path, fd)
    return fd  # (O_NONBLOCK changes nothing for a regular file's reads)


def _checked_info(path: str, fd: int) -> os.stat_result:
    """The ``fstat`` of ``fd`` (of ``path``) when it is a regular file's; closed,
    :class:`NotAFile` else."""
    try:
        info = os.fstat(fd)
        kind = not_a_file(path, info)
    except BaseException:
        os.close(fd)
        raise
    if kind is not None:
        os.close(fd)
        raise NotAFile(f"{path} is a {kind}, not a regular file")
    return info


_PINNED: dict[str, int] = {}
"""Descriptors of actual files the engine opened beneath the actual directory, by the
path its comparers name them with (:func:`pinned`): what they open is that file, not
whatever a job's process has put at that path since."""


def open_raw(path: str) -> int:
    """A descriptor of ``path`` for reading, from the start: the pinned file's own (a
    duplicate, rewound: the comparers read one file at a time), or ``path`` opened
    (``O_NONBLOCK``: a FIFO is opened at once, never waited on)."""
    held = _PINNED.get(path)
    if held is not None:
        fd = os.dup(held)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd
    return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))


def pinned_fd(path: str) -> int | None:
    """The descriptor :func:`pinned` holds for ``path`` (None: none is held)."""
    return _PINNED.get(path)


@contextlib.contextmanager
def pinned(path: str, fd: int) -> Iterator[None]:
    """While in it, :func:`open_file` of ``path`` reads the file of ``fd`` (the caller
    keeps and closes ``fd``)."""
    _PINNED[path] = fd
    try:
        yield
    finally:
        _PINNED.pop(path, None)


def too_large(path: str, size: int, cap: int = MAX_OUTPUT_BYTES) -> str:
    """Why ``path`` of ``size`` bytes is not read whole: it, its size, the cap and the fix.
    (``MAX_OUTPUT_BYTES`` is named: the docs say it; a job's engine may run elsewhere.)"""
    return (
        f"{path} is {size_text(size)} ({size:,} bytes), more than the {size_text(cap)} assay reads "
        "of one output file (MAX_OUTPUT_BYTES): have the case write less there, or check it "
        "with a command of your own (a comparison's `command`)"
    )


def size_text(n: int) -> str:
    """``n`` bytes for a reader: ``512 bytes``, ``1.5 KiB``, ``256 MiB``, ``2 GiB``."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}".replace(".0 ", " ")


def read_whole(
    path: str,
    cap: int = MAX_OUTPUT_BYTES,
    too_big: Callable[[str, int, int], str] = too_large,
    fd: int | None = None,
) -> bytes:
    """The bytes of the regular file ``path``, read whole: at most ``cap`` of them, else
    :class:`ValueError` (``too_big(path, size, cap)``), as for anything but a regular file (a FIFO,
    ``/dev/zero`` or a link to either: never waited on, never read without end). A file
    that grows while read is refused as soon as it passes the cap. ``fd``: ``path`` as
    the caller opened it (beneath its directory: :mod:`.beneath`), closed here."""
    if fd is None:
        fd = open_raw(path)
    # (The fstat that found it a regular file gives its size: a stat result, ~6,500
    # instructions, less per output read.)
    size = _checked_info(path, fd).st_size
    try:
        if size > cap:
            raise ValueError(too_big(path, size, cap))
        chunks: list[bytes] = []
        got = 0
        while got <= cap:  # (one read for a regular file of this size: +1 sees its end)
            want = size - got + 1 if got <= size else _CHUNK
            chunk = os.read(fd, min(want, cap + 1 - got))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            got += len(chunk)
        raise ValueError(too_big(path, max(got, os.fstat(fd).st_size), cap))
    finally:
        os.close(fd)


def compare_binary(expected: str, actual: str, res: Result, opt: Options) -> None:
    offset = 0
    # Lines before the difference, counted as cmp counts them ("differ: byte 5, line 2"):
    # text compared byte for byte (what a suite's own runner checks with cmp) is read by line.
    newlines = 0
    with open(open_file(expected), "rb", buffering=0) as fe, open(
        open_file(actual), "rb", buffering=0
    ) as fa:
        while True:
            be, ba = fe.read(_CHUNK), fa.read(_CHUNK)
            if be != ba:
                break
            if not be:
                return
            offset += len(be)
            newlines += be.count(b"\n")
        at = first_difference(be, ba)  # in this chunk
        offset += at
        newlines += be.count(b"\n", 0, at)
        # The bytes around it on both sides, for a reader (a hex dump's line and a half).
        window = max(0, offset - _BEFORE)
        near = [os.pread(f.fileno(), _WINDOW, window) for f in (fe, fa)]
    sizes = os.path.getsize(expected), os.path.getsize(actual)

    def byte(chunk: bytes) -> str:
        return f"0x{chunk[at]:02x}" if at < len(chunk) else "end of file"

    msg = (
        f"first difference at byte {offset}, line {newlines + 1} "
        f"(expected {byte(be)}, actual {byte(ba)})"
    )
    msg += f"; sizes {sizes[0]} and {sizes[1]} bytes"
    res.add(
        msg,
        expected=byte(be),
        actual=byte(ba),
        offset=offset,
        window=window,
        expected_bytes=near[0].hex(),
        actual_bytes=near[1].hex(),
    )
    res.note(msg)


def first_difference(a: bytes, b: bytes) -> int:
    """The first index where ``a`` and ``b`` differ (the shorter one's length if none)."""
    n = min(len(a), len(b))
    lo, step = 0, 16
    while True:  # equal windows of growing size, then bisect the first unequal one
        hi = min(lo + step, n)
        if a[lo:hi] != b[lo:hi]:
            break
        if hi == n:
            return n
        lo, step = hi, 2 * step
    while hi - lo > 16:  # slices: a few memcmp calls instead of a Python loop
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return hi


def sniff(path: str) -> str:
    """Binary when the first 8 KiB hold a NUL byte or are not UTF-8, else "text"."""
    with open(open_file(path), "rb") as fh:
        return sniff_bytes(fh.read(_SNIFF))


def sniff_bytes(start: bytes) -> str:
    """What :func:`sniff` says of a file that starts with ``start``."""
    head = start[:_SNIFF]
    if b"\0" in head:
        return "binary"
    try:  # (whole UTF-8: text, without making an incremental decoder; else it decides)
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "binary"
    return "text"
