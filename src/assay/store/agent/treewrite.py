"""Writing entries under a directory without ever following a link out of it: a port of the
part of :mod:`assay.treewrite` that staging uses.

Every entry is created relative to a descriptor of its parent directory, and every directory
on the way is opened with ``O_NOFOLLOW | O_DIRECTORY``: a symlink (or a file) in place of a
directory is refused, never followed. An entry in the way is unlinked, never written through;
a directory in the way is removed by descriptor. :mod:`.treecheck` refuses unsafe trees before
anything is written; this is the second line of defence.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import os
import stat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", 0)
_O_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FICLONE = 0x40049409
_KEEP = 64
_BUF = 1 << 20


class WriteRefused(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path!r} {reason}")
        self.path = path


class _NotADir(Exception):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(path)
        self.path, self.what = path, what


class TreeWriter:
    """Creates entries below ``root`` (an existing directory, opened once)."""

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._fds: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.created_top: set[str] = set()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dir_fd(self, rel: str) -> int:
        if not rel:
            return self.root_fd
        fd = self._fds.get(rel)
        if fd is not None:
            self._fds.move_to_end(rel)
            return fd
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
            path = path + "/" + name if path else name
            fd = self._open_dir(parent, name, path)
            self._fds[path] = fd
            if len(self._fds) > _KEEP:
                _, old = self._fds.popitem(last=False)
                os.close(old)
            parent = fd
        assert fd is not None
        return fd

    def _open_dir(self, parent: int, name: str, rel: str, create: bool = True) -> int:
        try:
            return os.open(name, _O_DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                what = "a symlink" if _is_link(parent, name) else "not a directory"
                raise _NotADir(rel, what) from None
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent)
        self._note_created(parent, name)
        return self._open_dir(parent, name, rel, create=False)

    def _note_created(self, parent: int, name: str) -> None:
        if parent == self.root_fd:
            self.created_top.add(name)

    def _split(self, rel: str) -> tuple[int, str]:
        head, _, name = rel.rpartition("/")
        _check_component(rel, name)
        try:
            return self.dir_fd(head), name
        except _NotADir as exc:
            raise WriteRefused(
                rel, f"lies below {exc.path!r}, which is {exc.what}; refusing to follow it"
            ) from None

    def make_dir(self, rel: str) -> None:
        parent, name = self._split(rel)
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
            self._note_created(parent, name)
            return
        except FileExistsError:
            pass
        if stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            return
        self._remove(parent, name, rel)
        os.mkdir(name, 0o777, dir_fd=parent)

    def link_file(self, source: str, rel: str) -> None:
        """A hard link at ``rel`` to the file ``source`` (OSError when impossible)."""
        parent, name = self._split(rel)
        self._retry(rel, parent, name, lambda: os.link(source, name, dst_dir_fd=parent))

    def symlink(self, target: str, rel: str) -> None:
        parent, name = self._split(rel)
        self._retry(rel, parent, name, lambda: os.symlink(target, name, dir_fd=parent))

    def copy_file(self, source: str, rel: str, mode: int) -> bool:
        """A private copy (a reflink where possible; True if so)."""
        parent, name = self._split(rel)
        made: list[int] = []
        self._retry(
            rel, parent, name, lambda: made.append(os.open(name, _O_NEW, 0o600, dir_fd=parent))
        )
        fd = made[0]
        try:
            with open(source, "rb") as src:
                reflinked = _reflink(src.fileno(), fd)
                if not reflinked:
                    _copy(src.fileno(), fd)
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=parent)
            raise
        os.close(fd)
        return reflinked

    def _retry(self, rel: str, parent: int, name: str, make: Callable[[], Any]) -> None:
        try:
            make()
        except FileExistsError:
            self._remove(parent, name, rel)
            make()
            return
        self._note_created(parent, name)

    def undo(self) -> None:
        """Remove what this writer created directly under the root (and all below it)."""
        for name in sorted(self.created_top):
            with contextlib.suppress(OSError):
                self._remove(self.root_fd, name, name)
        self.created_top.clear()

    def _remove(self, parent: int, name: str, rel: str) -> None:
        try:
            os.unlink(name, dir_fd=parent)
            return
        except IsADirectoryError:
            pass
        except PermissionError:
            if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise
        prefix = rel + "/"
        for key in [k for k in self._fds if k == rel or k.startswith(prefix)]:
            os.close(self._fds.pop(key))
        remove_tree(parent, name)


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_component(rel: str, name: str) -> None:
    if name in ("", ".", "..") or "\0" in name:
        raise WriteRefused(rel, "is not a plain relative path; refusing to write it")


def remove_tree(parent: int, name: str) -> None:
    """Remove the directory ``name`` of ``parent`` and all it holds, by descriptors (never
    following a link; no recursion limit)."""
    stack = []

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


def remove_path(path: str) -> None:
    """Remove ``path`` (a directory with all it holds, or a file), never following a link
    below it; nothing if it is not there."""
    parent_path, name = os.path.split(path.rstrip("/"))
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


def _copy(src: int, dst: int) -> None:
    copy_range = getattr(os, "copy_file_range", None)  # Python >= 3.8
    if copy_range is not None:
        try:
            while copy_range(src, dst, 1 << 30):
                pass
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        os.lseek(src, 0, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
    while True:
        chunk = os.read(src, _BUF)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]
