"""Small file helpers: tails of outputs, atomic writes, links and copies."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from assay import terminal


def display_path(path: str | Path) -> str:
    """``path`` relative to the current directory when it lies below it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def real_ancestors(path: str | Path) -> frozenset[tuple[int, int]]:
    """The (device, inode) of ``path`` (links resolved) and of every directory above it.

    A directory lies on ``path``'s way, so that ``path`` is inside it, exactly when its own
    ``os.stat`` is among them: one stat per directory checked instead of resolving each (a
    directory reached through a link, or bind-mounted elsewhere, is the same inode)."""
    found = set()
    real = os.path.realpath(path)
    while True:
        try:
            st = os.stat(real)
        except OSError:  # (a part not made yet: nothing can be it)
            pass
        else:
            found.add((st.st_dev, st.st_ino))
        parent = os.path.dirname(real)
        if parent == real:
            return frozenset(found)
        real = parent


TAIL_LINE = 400
"""Characters of one line of a tail shown (a line of 100 MB, or binary output without line
ends, is cut there)."""


def tail(
    path: str | Path, lines: int = 20, max_bytes: int = 64 * 1024, width: int = TAIL_LINE
) -> str | None:
    """The last ``lines`` lines of a text file (reading at most ``max_bytes``), each cut
    after ``width`` characters, or None (also for what is no regular file: a FIFO is never
    waited on, ``/dev/zero`` never read). Printable: control characters (an escape sequence
    of the output, a carriage return, bytes that are not UTF-8) are written as escapes
    (:func:`assay.terminal.line`), so that a tail shown in a terminal is never obeyed.

    Never through a link at its name, nor at its directory's: these are a job's output
    files, and a job may have left there a link to a file it could not read itself (the
    runner would show it), or swapped its directory for a link to another
    (:func:`open_job_file`)."""
    try:
        with open_job_file(path) as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            data = fh.read(max_bytes)
    except (OSError, ValueError):
        return None
    text = data.decode(errors="surrogateescape")  # (bad bytes shown as \xHH, each its own)
    started = size <= max_bytes
    if not started and "\n" in text.rstrip("\n"):
        text, started = text.split("\n", 1)[-1], True  # the first line is probably cut
    # Escaped first, then cut: what is shown of a line is at most ``width`` characters.
    kept = [terminal.line(line) for line in text.rstrip("\n").split("\n")[-lines:]]
    if len(kept) == 1 and not started:  # one line longer than what was read: its end
        kept = [f"...{kept[0][-width:]}"]
    else:
        kept = [_cut(line, width) for line in kept]
    return "\n".join(kept) if any(kept) else ""


def _cut(line: str, width: int) -> str:
    if len(line) <= width + 3:
        return line
    return f"{line[:width]}... ({len(line) - width:,} more characters)"


def open_regular(path: str | Path, dir_fd: int | None = None) -> BinaryIO:
    """``path`` opened for reading when it is a regular file, not a link to one (a job's
    file: see :func:`tail`); :class:`OSError` otherwise. ``dir_fd``: the directory a
    relative ``path`` is in (a stage dir opened once, not a link put at its name)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_job_file(path: str | Path) -> BinaryIO:
    """The regular file ``path`` of a job's directory (a stage or output dir) opened for
    reading: not through a link at its name (:func:`open_regular`), nor through one at the
    directory's name (a job's process may have swapped the directory for a link to
    another: ``ELOOP`` or ``ENOTDIR`` then). The directories above are the user's,
    followed."""
    from assay.compare.beneath import open_dir  # (loaded by every run; not by --version)

    directory, name = os.path.split(os.fspath(path))
    dfd = open_dir(directory or ".")
    try:
        return open_regular(name, dfd)
    finally:
        os.close(dfd)


def why_unread(path: str | Path) -> str | None:
    """Why the job's file ``path`` was not read by :func:`open_job_file` (a sentence for a
    message naming the file), or None when it is simply not there (or was readable)."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    if os.path.islink(directory):
        return (
            f"{directory} is a symbolic link, not the directory assay made (a job replaced "
            "it): nothing was read through it; look at what the test's processes do to it"
        )
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return (
            f"{path} is a symbolic link the job left, not followed; a test writes its "
            "output there, never links it"
        )
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file (a FIFO, a device or a directory), not read"
    return None


def write_atomic(path: str | Path, data: str | bytes, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half;
    the file gets ``mode`` less the umask, as ``open`` would give it. Written under a fresh
    random name (O_EXCL, O_NOFOLLOW: nothing planted there is followed), then renamed; not
    fsynced (what it writes is remade if a crash loses it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(path)
    try:
        os.fchmod(fd, mode & ~_umask())  # (made 0600, as mkstemp would)
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_named(path: str | Path, data: str | bytes) -> None:
    """Write a file the user named (``--report``, ``--junit``, ``--html``) as a shell's ``>``
    would: a regular file (or none yet, its directories made) is replaced atomically
    (:func:`write_atomic`); anything else a path may name (``/dev/stdout``, a terminal, a
    pipe, a device) is written into, never replaced: renaming a new file over it (as root,
    over a device node or ``/dev/stdout``'s link) would change the machine. A symbolic link
    is written through as ``open`` follows it (truncated, not atomically): the kernel's
    ``protected_symlinks`` then refuses a link another user planted in a shared sticky
    directory (``/tmp``), which a path resolved here and renamed over would not. A directory
    (``/``, ``out/``) is refused with :class:`IsADirectoryError`."""
    name = os.fspath(path)
    try:
        info: os.stat_result | None = os.stat(name)  # (through links: where it leads)
    except FileNotFoundError:
        info = None
    if (info is not None and stat.S_ISDIR(info.st_mode)) or name.endswith(os.sep):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    if os.path.islink(name) or (info is not None and not stat.S_ISREG(info.st_mode)):
        with open(name, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        return
    write_atomic(name, data)


def _new_file(path: Path) -> tuple[int, Path]:
    """A new empty file (0600) next to ``path``, named ``.NAME.`` and a random part, as
    :func:`tempfile.mkstemp` makes it (without tempfile's imports: shutil's archivers,
    random; a run's first case waits for them)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def point_link(link: Path, target: str) -> None:
    """Make ``link`` a symlink to ``target``, replacing any old link atomically."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def fresh_dir(path: Path) -> None:
    """An empty directory at ``path`` (whatever an earlier attempt left there goes)."""
    try:
        path.mkdir()
    except FileExistsError:  # left over from an earlier attempt
        shutil.rmtree(path)
        path.mkdir()


def link_or_copy(src: Path | str, dst: Path, src_dir_fd: int | None = None) -> None:
    """``dst`` as a hard link to ``src``, or a copy where linking is not possible. A
    symbolic link at ``src`` (a job's kept file) is linked or copied as the link itself,
    never followed: followed, the runner would copy the file it points to (perhaps one the
    job could not read) into the output dir. ``src_dir_fd``: the directory ``src`` is a
    name in (opened beneath the stage dir, no link on the way: see cleanup)."""
    try:
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        os.link(src, dst, src_dir_fd=src_dir_fd, follow_symlinks=False)
    except OSError:
        if src_dir_fd is None:
            shutil.copy2(src, dst, follow_symlinks=False)
        else:
            _copy_at(src_dir_fd, str(src), dst)


def _copy_at(dir_fd: int, name: str, dst: Path) -> None:
    """``copy2(name, dst, follow_symlinks=False)`` for a ``name`` in the directory
    ``dir_fd``: a link copied as the link, a regular file's bytes, mode and times (what
    is neither, a FIFO, is refused: never waited on)."""
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(name, dir_fd=dir_fd), dst)
        return
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    with os.fdopen(os.open(name, flags, dir_fd=dir_fd), "rb") as fh:
        info = os.fstat(fh.fileno())  # (the file opened: not what was looked at)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", name)
        with open(dst, "xb") as out:
            shutil.copyfileobj(fh, out)
    os.chmod(dst, stat.S_IMODE(info.st_mode))
    os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))


def stage_identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of the directory at ``path`` (None: no directory there)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def remove_entries(dir_fd: int, names: Iterable[str]) -> None:
    """Remove the entries ``names`` of the directory ``dir_fd`` (files, links, or whole
    trees; a symbolic link is removed, never followed). Each relative to the directory's
    descriptor, a tree by ``shutil.rmtree``'s descriptor walk: a job that swaps the
    directory (or one of its subdirectories) for a link meanwhile removes nothing
    elsewhere."""
    for name in names:
        try:
            os.unlink(name, dir_fd=dir_fd)  # a file or a link (never followed): one call
        except FileNotFoundError:
            continue
        except OSError:  # a directory (EISDIR; EPERM on some systems)
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise
            shutil.rmtree(name, dir_fd=dir_fd)
