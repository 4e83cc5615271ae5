"""Files assay acts on only when this user wrote them: ``--resume`` kills the process groups
a session's journal names, follows (and cancels) its batch jobs and runs its recorded
arguments again, so a session another user could have written is refused."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

from assay.errors import UsageError
from assay.shell import quote


def check_owned(path: Path, info: os.stat_result, what: str) -> None:
    """Refuse ``path`` (whose ``stat`` is ``info``) unless this user owns it and no one
    else may write it; ``what`` names its use, such as ``--resume``."""
    me = os.geteuid()
    if info.st_uid != me:
        raise UsageError(
            f"{what}: {path} is owned by uid {info.st_uid}, not by you (uid {me}); another "
            "user could have written it, so it is not acted on",
            hint=_fix(what, "resume only a session of your own; start a new run without --resume"),
        )
    group_may = info.st_mode & stat.S_IWGRP and not _private_group(info.st_gid)
    if info.st_mode & stat.S_IWOTH or group_may:
        raise UsageError(
            f"{what}: {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}), so "
            "what it says is not acted on",
            hint=f"if you trust its content: chmod go-w {quote(str(path))}; else " + _fix(what),
        )


def _fix(what: str, resume: str = "start a new run without --resume") -> str:
    """What to do instead, for the command ``what`` names."""
    if what == "--resume":
        return resume
    return "run the cases again (assay run) for a session of your own"


def _private_group(gid: int) -> bool:
    """Whether ``gid`` is this user's own group (a user private group: its name, no other
    member), so that its write bit, which umask 002 gives, lets no one else write."""
    try:
        group = grp.getgrgid(gid)
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return False
    return group.gr_name == me and set(group.gr_mem) <= {me}


def check_owned_dir(path: Path, what: str) -> None:
    """:func:`check_owned` for a directory (after following links to it)."""
    check_owned(path, os.stat(path), what)


def read_owned(path: Path, what: str) -> bytes | None:
    """The content of ``path`` if this user owns it and no one else may write it, and the
    same of the directory it is in (each checked on the descriptor the file is read
    through, not the name: a link is refused, and so is a directory swapped in after an
    earlier check); None when it is missing."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        if path.parent.name == "latest" and not os.path.lexists(path.parent):
            raise UsageError(  # (the newest session's link, never made: no run yet)
                f"{what}: there is no session under {path.parent.parent} yet",
                hint="run `assay run` first, or give --prefix where the sessions are",
            ) from None
        raise UsageError(
            f"{what}: cannot read {path.parent}: {exc.strerror}", hint=_fix(what)
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{what}: cannot read {path.parent}: {exc.strerror}",
            hint=_fix(what),
        ) from None
    try:
        check_owned(path.parent, os.fstat(folder), what)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(path.name, flags, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(
            f"{what}: cannot read {path}: {exc.strerror}",
            hint=_fix(what),
        ) from None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(
                f"{what}: {path} is not a regular file",
                hint=_fix(what),
            )
        check_owned(path, info, what)
        return fh.read()


TRUST_PREFIX = "ASSAY_TRUST_PREFIX"
"""Set to 1, the prefix's owner checks are skipped: a user who trusts the other users of
the place (root in a container whose work dir, a bind mount, belongs to the host's user)."""


def check_prefix(prefix: Path) -> None:
    """Refuse to write a new session under ``prefix`` where another user could swap what
    assay writes (session and stage directories, ``latest``, the results database) for
    links to this user's files: the prefix and its ``runs`` must be this user's and closed
    to others' writes (as for ``--resume``); the directory holding the prefix (and, for a
    link, the one holding its target) must be this user's or root's, and writable by
    others only if sticky (``/tmp``)."""
    if os.environ.get(TRUST_PREFIX) == "1":
        return  # the user trusts whoever else may write there (a container's bind mount)
    what = f"--prefix {prefix}"
    fix = (
        "give --prefix a directory of your own (the default is .assay in the current "
        "directory), or, if you trust what is in it: "
    )
    absolute = Path(os.path.abspath(prefix))
    parents = [absolute.parent]
    try:
        real = Path(os.path.realpath(absolute, strict=True))
    except OSError:
        real = None  # not made yet: made by this user, in its parent
    if real is not None and real.parent not in parents:
        parents.append(real.parent)
    for parent in parents:
        try:
            info = os.stat(parent)
        except OSError:
            continue  # made by mkdir -p, as this user
        _check_holder(parent, info, what)
    for path in (absolute, absolute / "runs"):
        try:
            info = os.stat(path)
        except OSError:
            continue
        me = os.geteuid()
        if info.st_uid != me:
            problem = f"is owned by uid {info.st_uid}, not by you (uid {me})"
            change = f"chown -R {me} {quote(str(path))}"
        elif info.st_mode & stat.S_IWOTH or (
            info.st_mode & stat.S_IWGRP and not _private_group(info.st_gid)
        ):
            problem = f"is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
            change = f"chmod go-w {quote(str(path))}"
        else:
            continue
        raise UsageError(
            f"{what}: {path} {problem}: another user could swap the session directories "
            "or the results database there for links to your files",
            hint=fix + change + f" (or set {TRUST_PREFIX}=1 to skip this check)",
        )


def _check_holder(parent: Path, info: os.stat_result, what: str) -> None:
    me = os.geteuid()
    sticky = bool(info.st_mode & stat.S_ISVTX)
    if info.st_uid not in (me, 0):
        problem = f"is owned by uid {info.st_uid}, not by you (uid {me}) or root"
    elif info.st_mode & stat.S_IWOTH and not sticky:
        problem = f"is writable by everyone (mode {stat.S_IMODE(info.st_mode):o}, not sticky)"
    else:
        return
    raise UsageError(
        f"{what}: the directory that holds it, {parent}, {problem}: another user could "
        "replace the prefix with a link to your files",
        hint="give --prefix a directory in a place of your own, such as ~/assay-runs, "
        f"or, if you trust uid {info.st_uid} (a container's bind mount), set {TRUST_PREFIX}=1",
    )


def others_may_change(info: os.stat_result, root_ok: bool = False) -> str | None:
    """Why another user could change the file or directory ``info`` describes (it is
    theirs, or open to their writes; a user private group's write bit does not count), or
    None. ``root_ok``: a directory of root's is not another user's (``/var/tmp``)."""
    me = os.geteuid()
    if info.st_uid != me and not (root_ok and info.st_uid == 0):
        return f"is owned by uid {info.st_uid}, not by you (uid {me})"
    mode = info.st_mode
    if mode & stat.S_IWOTH or (mode & stat.S_IWGRP and not _private_group(info.st_gid)):
        return f"is writable by others (mode {stat.S_IMODE(mode):o})"
    return None
