"""Opening a path beneath a directory a job controls: no check-then-use window.

Resolving a path first (``realpath``) and opening it afterwards leaves a window: a job, or
a process it left running, can swap a directory on the way for a link between the two.
Here each component is opened relative to the descriptor of the one before it without
following a link (``O_NOFOLLOW``); a link met on the way is read (``readlink`` at its
directory) and its target walked the same way, from the directory that holds it (a
relative target) or from the root (an absolute target naming a place below the root).
Whatever leads above the root (``..`` there, an absolute target elsewhere) is refused
with :class:`LeadsOut` before anything out there is opened. The kernel's ``openat2``
(``RESOLVE_BENEATH``) refuses absolute links outright, which a job's ``ln -s "$PWD/x"``
makes: this walk is the portable form that keeps them (standard library only: the
comparison engine, which uses it, runs in jobs on Python 3.7).
"""

from __future__ import annotations

import errno
import os
from collections import deque

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | CLOEXEC
"""A directory opened to list or to work in: never a link at its name."""
READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | CLOEXEC
"""A file opened to read: a FIFO is opened at once (then refused by its kind), never
waited on."""
# A directory passed through on the way: O_PATH needs no read permission on it (a job may
# have closed one, chmod 000) where there is O_PATH (Linux).
STEP = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | CLOEXEC
_LINK_ERRNOS = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)  # O_NOFOLLOW on a link, by OS
_MAX_LINKS = 40  # as the kernel's own limit on a path's links


class LeadsOut(OSError):
    """A link on the way leads out of the root; ``real``: where (for a message only)."""

    def __init__(self, path: str, real: str) -> None:
        super().__init__(errno.EXDEV, "leads out of its directory", path)
        self.real = real


class LinkOnTheWay(OSError):
    """A link on the way where none may be (``follow=False``); ``link``: its path below
    the root."""

    def __init__(self, path: str, link: str) -> None:
        super().__init__(errno.ELOOP, "a symbolic link on the way", path)
        self.link = link


class NotTheSame(OSError):
    """A directory opened again is not the one first made there (replaced, or moved)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ESTALE, "not the directory made there", path)


def identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def open_dir(path: str, ident: tuple[int, int] | None = None) -> int:
    """A descriptor of the directory ``path`` (not a link at its name: ``OSError``, ELOOP
    or ENOTDIR); with ``ident``, only when it is still that directory (:class:`NotTheSame`).
    The directories above it are followed: they are the user's, not the job's."""
    fd = os.open(path, DIR)
    if ident is not None and identity(os.fstat(fd)) != ident:
        os.close(fd)
        raise NotTheSame(path)
    return fd


def parts_of(rel: str) -> list[str]:
    return [p for p in rel.split("/") if p and p != "."]


def open_beneath(
    root_fd: int, rel: str, flags: int = READ, *, root: str, follow: bool = True
) -> int:
    """A descriptor of ``rel`` below the directory ``root_fd`` (whose path is ``root``),
    opened with ``flags``; links on the way are followed while they stay below the root
    (:class:`LeadsOut` else), or with ``follow=False`` refused (:class:`LinkOnTheWay`)."""
    if "/" not in rel and rel not in ("", ".", ".."):
        # One name, as a suite's compared file and a run's output files are: opened as
        # the walk below opens its last step; a link there is left to the walk.
        try:
            return os.open(rel, flags | os.O_NOFOLLOW, dir_fd=root_fd)
        except OSError as exc:
            if exc.errno not in _LINK_ERRNOS:
                raise
    todo = deque(parts_of(rel))
    held: list[int] = []  # descriptors of the directories walked into, below the root
    names: list[str] = []  # their names (the lexical path below the root)
    links = 0
    try:
        while todo:
            name = todo.popleft()
            if name == "..":
                if not held:
                    raise LeadsOut(_full(root, rel), _real(root, rel))
                os.close(held.pop())
                names.pop()
                continue
            here = held[-1] if held else root_fd
            last = not todo
            try:
                fd = os.open(name, (flags | os.O_NOFOLLOW) if last else STEP, dir_fd=here)
            except OSError as exc:
                if exc.errno not in _LINK_ERRNOS:
                    raise
                try:
                    target = os.readlink(name, dir_fd=here)
                except OSError:
                    raise exc from None  # no link: a file where a directory was named
                if not follow:
                    raise LinkOnTheWay(_full(root, rel), "/".join([*names, name])) from None
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), _full(root, rel)) from None
                if target.startswith("/"):
                    below = _below(root, target)
                    if below is None:
                        raise LeadsOut(_full(root, rel), _real(root, rel)) from None
                    for fd_ in held:
                        os.close(fd_)
                    held, names = [], []
                    todo.extendleft(reversed(parts_of(below)))
                else:
                    todo.extendleft(reversed(parts_of(target)))
                continue
            if last:
                return fd
            held.append(fd)
            names.append(name)
        # ``rel`` ends at a directory reached by ``..`` or a link to ``.``: that one.
        return os.open(".", flags, dir_fd=held[-1] if held else root_fd)
    finally:
        for fd_ in held:
            os.close(fd_)


def _full(root: str, rel: str) -> str:
    return os.path.join(root, rel)


def _real(root: str, rel: str) -> str:
    """Where ``rel``, which leads out of the root, leads (for a message: a name resolved,
    nothing there opened)."""
    return os.path.realpath(os.path.join(root, rel))


def _below(root: str, target: str) -> str | None:
    """``target`` (absolute) relative to ``root`` when it names a place below it: as
    written (the root as given, or resolved), or once resolved itself (a job's link
    through a link of the user's above the root); None when it lies elsewhere."""
    target = os.path.normpath(target)
    roots = [os.path.normpath(root)]
    real_root = os.path.realpath(root)
    if real_root != roots[0]:
        roots.append(real_root)
    for where in (target, os.path.realpath(target)):
        for top in roots:
            if where == top:
                return "."
            if where.startswith(top.rstrip("/") + "/"):
                return where[len(top.rstrip("/")) + 1 :]
    return None
