"""Writing entries under a directory without ever following a link out of it.

Every entry is created relative to a file descriptor of its parent directory, and every
directory on the way is opened with ``O_NOFOLLOW | O_DIRECTORY``: a symlink (or a file) in
place of a directory is an error, never a path to somewhere else. An existing entry in the
way is unlinked, never written through (a hard link elsewhere keeps its content), and a
directory in the way is removed by descriptor, never through a link; for paths someone else
names (files brought back from a host), ``write_file(..., replace="files")`` replaces only a
regular file and refuses a directory or a link. This is the second line of defence;
:mod:`.treecheck` refuses unsafe lists before anything is written.

Descriptors of recently used directories are kept (a tree is written in path order, so a
directory's files come together): staging thousands of files costs about what plain path
calls cost.

One copy serves assay (unpacking, staging) and the store agent (standard library only,
Python 3.7), as :mod:`.treecheck` does; each side turns :class:`WriteRefused` into its own
error where it is caught.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections import OrderedDict
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType
    from typing import Protocol  # Python >= 3.8: for the type checker only

    class Readable(Protocol):
        def read(self, __n: int = -1) -> bytes: ...  # positional-only, in 3.7's grammar


PathLike = Union[str, "os.PathLike[str]"]  # typing: this module runs on Python 3.7

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", 0)
_O_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FICLONE = 0x40049409  # ioctl: share the source's blocks copy-on-write (btrfs, xfs, ...)
_KEEP = 64  # directory descriptors kept open
_BUF = 1 << 20


class WriteRefused(Exception):
    """A path cannot be written without following a link (or through a non-directory):
    ``where`` is the entry in the way (``path`` itself or a directory above it) and ``what``
    it is ("a symlink", "not a directory", ...; empty for a path refused as written)."""

    def __init__(self, path: str, reason: str, where: str = "", what: str = "") -> None:
        super().__init__(f"{path!r} {reason}")
        self.path = path
        self.where = where or path
        self.what = what


class _NotADir(Exception):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(path)
        self.path, self.what = path, what


class TreeWriter:
    """Creates entries below ``root`` (an existing directory, opened once)."""

    def __init__(self, root: PathLike) -> None:
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._fds: OrderedDict[str, int] = OrderedDict()
        self._last: tuple[str, int] = ("", self.root_fd)
        self.created_top: set[str] = set()  # names this writer made directly under the root

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._last = ("", -1)
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- directories ---------------------------------------------------------------------------

    def dir_fd(self, rel: str) -> int:
        """The descriptor of the directory ``rel`` (created, with its parents, if missing);
        ``_NotADir`` if a component is a symlink or not a directory."""
        if rel == self._last[0]:
            return self._last[1]
        if not rel:
            return self.root_fd
        fd = self._fds.get(rel)
        if fd is not None:
            self._fds.move_to_end(rel)
        else:
            # From the nearest directory already open, one component at a time.
            missing = []
            head = rel
            parent = self.root_fd
            while head:
                head, _, name = head.rpartition("/")
                _check_component(rel, name)
                missing.append(name)
                known = self._fds.get(head) if head else self.root_fd
                if known is not None:
                    parent = known
                    break
            path = head
            for name in reversed(missing):
                path = f"{path}/{name}" if path else name
                fd = self._open_dir(parent, name, path, create=True)
                self._keep(path, fd)
                parent = fd
        assert fd is not None
        self._last = (rel, fd)
        return fd

    def _keep(self, path: str, fd: int) -> None:
        self._fds[path] = fd
        if len(self._fds) > _KEEP:
            # The oldest goes; never the one just opened, the next opening's parent.
            _, old = self._fds.popitem(last=False)
            os.close(old)

    def _open_dir(self, parent: int, name: str, rel: str, *, create: bool) -> int:
        try:
            return os.open(name, _O_DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                what = "a symlink" if self._is_link(parent, name) else "not a directory"
                raise _NotADir(rel, what) from None
            raise
        with contextlib.suppress(FileExistsError):  # made by a concurrent writer: fine
            os.mkdir(name, 0o777, dir_fd=parent)
        self._note_created(parent, name)
        return self._open_dir(parent, name, rel, create=False)

    @staticmethod
    def _is_link(parent: int, name: str) -> bool:
        try:
            return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def _note_created(self, parent: int, name: str) -> None:
        if parent == self.root_fd:
            self.created_top.add(name)

    def _split(self, rel: str) -> tuple[int, str]:
        if rel.startswith("/"):
            raise WriteRefused(rel, "is not a plain relative path; refusing to write it")
        head, _, name = rel.rpartition("/")
        _check_component(rel, name)
        try:
            return self.dir_fd(head), name
        except _NotADir as exc:
            raise WriteRefused(
                rel,
                f"lies below {exc.path!r}, which is {exc.what}; refusing to follow it",
                exc.path,
                exc.what,
            ) from None
        except WriteRefused as exc:  # a directory on the way: name the whole path
            if exc.path == rel:
                raise
            raise WriteRefused(rel, "is not a plain relative path; refusing to write it") from None

    def make_dir(self, rel: str) -> None:
        """A real directory at ``rel``: an existing one is kept, anything else there is
        replaced."""
        parent, name = self._split(rel)
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
            self._note_created(parent, name)
            return
        except FileExistsError:
            pass
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            return
        self._remove(parent, name, rel)
        os.mkdir(name, 0o777, dir_fd=parent)

    # -- files and links -----------------------------------------------------------------------

    def write_file(self, rel: str, stream: Readable, mode: int, replace: str = "any") -> int:
        """A new regular file with ``stream``'s content and ``mode``; the bytes written.
        What is in the way is replaced; with ``replace="files"`` only a regular file is,
        and a directory or a link there is refused (:class:`WriteRefused`)."""
        fd = self._create(rel, only_files=replace == "files")
        written = 0
        try:
            with os.fdopen(fd, "wb", closefd=True) as out:
                while True:
                    chunk = stream.read(_BUF)
                    if not chunk:
                        break
                    written += len(chunk)
                    out.write(chunk)
                os.fchmod(out.fileno(), mode)
        except BaseException:
            self._discard(rel)
            raise
        return written

    def write_bytes(self, rel: str, data: bytes, mode: int) -> None:
        """A new regular file holding ``data``, with ``mode``: :meth:`write_file` without a
        stream or a file object (a small file is one ``write``)."""
        fd = self._create(rel)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            self._discard(rel)
            raise
        os.close(fd)

    def copy_file(self, source: PathLike, rel: str, mode: int) -> bool:
        """A private copy of the file ``source`` (a reflink where the file system can);
        True if it was reflinked."""
        fd = self._create(rel)
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb", closefd=True) as out:
                reflinked = _reflink(src.fileno(), out.fileno())
                if not reflinked:
                    _copy_fd(src.fileno(), out.fileno())
                os.fchmod(out.fileno(), mode)
        except BaseException:
            self._discard(rel)
            raise
        return reflinked

    def replace_file(self, rel: str, source: int, mode: int) -> None:
        """Give ``rel`` the content of the open file ``source`` (read from its offset) at
        once: written under a fresh name beside it, synced, and renamed over it. Readers see
        the old file or the new one; a failed write leaves the old one; a hard link there is
        replaced, its other names untouched. A regular file there keeps its mode, a new one
        gets ``mode``; a link or anything but a regular file there is refused."""
        parent, name = self._split(rel)
        try:
            old = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISREG(old.st_mode):
                what = "a symlink" if stat.S_ISLNK(old.st_mode) else "not a regular file"
                raise WriteRefused(rel, f"is {what}; not replaced", rel, what)
            mode = stat.S_IMODE(old.st_mode)
        temporary = f".{name}.{os.urandom(6).hex()}"
        out = os.open(temporary, _O_NEW, 0o600, dir_fd=parent)
        try:
            try:
                _copy_fd(source, out)
                os.fchmod(out, mode)
                os.fsync(out)  # (a crash after the rename must not leave an empty file)
            finally:
                os.close(out)
            # a rename: whatever was put at ``name`` meanwhile is replaced, not written to
            os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=parent)
            raise

    def link_file(self, source: PathLike, rel: str) -> None:
        """A hard link at ``rel`` to the file ``source`` (a path outside the tree, such as
        a store object); raises OSError (EXDEV, EMLINK, ...) when that is impossible."""
        parent, name = self._split(rel)
        self._retry(rel, parent, name, lambda: os.link(source, name, dst_dir_fd=parent))

    def hard_link(self, existing: str, rel: str) -> None:
        """A hard link at ``rel`` to the entry ``existing`` of this tree (never following a
        symlink, neither on the way nor at the end)."""
        if existing == rel:
            return
        src_parent, src_name = self._split(existing)
        src_fd = os.dup(src_parent)  # the cache may close it while the destination opens
        try:
            parent, name = self._split(rel)
            self._retry(
                rel,
                parent,
                name,
                lambda: os.link(
                    src_name,
                    name,
                    src_dir_fd=src_fd,
                    dst_dir_fd=parent,
                    follow_symlinks=False,
                ),
            )
        finally:
            os.close(src_fd)

    def symlink(self, target: str, rel: str) -> None:
        parent, name = self._split(rel)
        self._retry(rel, parent, name, lambda: os.symlink(target, name, dir_fd=parent))

    def _create(self, rel: str, only_files: bool = False) -> int:
        parent, name = self._split(rel)
        fd: list[int] = []
        self._retry(
            rel,
            parent,
            name,
            lambda: fd.append(os.open(name, _O_NEW, 0o600, dir_fd=parent)),
            only_files,
        )
        return fd[0]

    def _retry(
        self,
        rel: str,
        parent: int,
        name: str,
        make: Callable[[], object],
        only_files: bool = False,
    ) -> None:
        """``make()``; if something is in the way, remove it (never following it) and again;
        with ``only_files``, only a regular file."""
        try:
            make()
        except FileExistsError:
            if only_files and not stat.S_ISREG(
                os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
            ):
                raise WriteRefused(rel, "is a directory or a link here; not replaced") from None
            self._remove(parent, name, rel)
            make()
            return
        self._note_created(parent, name)

    def _discard(self, rel: str) -> None:
        with contextlib.suppress(OSError):
            parent, name = self._split(rel)
            os.unlink(name, dir_fd=parent)

    # -- removing ------------------------------------------------------------------------------

    def undo(self) -> None:
        """Remove what this writer created directly under the root (and so all it created
        below); what it replaced stays replaced."""
        for name in sorted(self.created_top):
            with contextlib.suppress(OSError):
                self.remove(name)
        self.created_top.clear()

    def remove(self, rel: str) -> None:
        """Remove whatever is at ``rel`` (a directory with its content), if anything."""
        parent, name = self._split(rel)
        with contextlib.suppress(FileNotFoundError):
            self._remove(parent, name, rel)

    def _remove(self, parent: int, name: str, rel: str) -> None:
        try:
            os.unlink(name, dir_fd=parent)
            return
        except IsADirectoryError:
            pass
        except PermissionError:  # Linux says EISDIR, others EPERM, for a directory
            if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise
        self._forget(rel)
        remove_tree(parent, name)

    def _forget(self, rel: str) -> None:
        """Drop cached descriptors of ``rel`` and below: that directory is going."""
        prefix = rel + "/"
        for key in [k for k in self._fds if k == rel or k.startswith(prefix)]:
            os.close(self._fds.pop(key))
        if self._last[0] == rel or self._last[0].startswith(prefix):
            self._last = ("", self.root_fd)


def _check_component(rel: str, name: str) -> None:
    """The writer's own guard: whatever the checks before it let through, one component is
    never empty, ``.`` or ``..``."""
    if name in ("", ".", "..") or "\0" in name:
        raise WriteRefused(rel, "is not a plain relative path; refusing to write it")


def remove_tree(parent: int, name: str) -> None:
    """Remove the directory ``name`` of the directory ``parent`` and all it holds, by
    descriptors (never following a link; no recursion limit)."""
    stack: list[tuple[int, str, int, Iterator[os.DirEntry[str]]]] = []

    def enter(at: int, entry: str) -> None:
        fd = os.open(entry, _O_LIST, dir_fd=at)
        stack.append((at, entry, fd, iter(list(os.scandir(fd)))))

    enter(parent, name)
    try:
        while stack:
            at, entry, fd, items = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                os.close(fd)
                os.rmdir(entry, dir_fd=at)
                continue
            if item.is_dir(follow_symlinks=False):
                enter(fd, item.name)
            else:
                os.unlink(item.name, dir_fd=fd)
    finally:
        for _, _, fd, _ in stack:
            os.close(fd)


def remove_path(path: PathLike) -> None:
    """Remove ``path`` (a directory with all it holds, or a file or link), never following
    a link below it; nothing if it is not there."""
    parent_path, name = os.path.split(os.fspath(path).rstrip("/"))
    if name in ("", ".", ".."):
        return  # "/", "." or "a/..": not an entry of a directory to remove
    try:
        parent = os.open(parent_path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        try:
            os.unlink(name, dir_fd=parent)
        except FileNotFoundError:
            return
        except (IsADirectoryError, PermissionError):
            remove_tree(parent, name)
    finally:
        os.close(parent)


def _reflink(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, _FICLONE, src)
        return True
    except OSError:
        return False


def _copy_fd(src: int, dst: int) -> None:
    """Copy ``src``, from its offset on, to the empty file ``dst``."""
    start = os.lseek(src, 0, os.SEEK_CUR)
    copy_range = getattr(os, "copy_file_range", None)  # Python >= 3.8
    if copy_range is not None:
        try:
            while copy_range(src, dst, 1 << 30):
                pass
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        os.lseek(src, start, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
    while True:
        chunk = os.read(src, _BUF)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:  # os.write may write less than it was given
            view = view[os.write(dst, view) :]
