"""Starting a job process with the C library's ``posix_spawn``: one call from Python.

``subprocess.Popen`` does the same work with Python code around its ``vfork``: it encodes
every environment variable with two Python calls, looks up its handles, makes an error
pipe and reads it back, and the runner opens (and closes) the output files itself. For
every job that is about 0.1 ms of the event loop's thread. ``posix_spawn`` takes the
environment as one array, and its file actions open the output files, change directory
and close every other descriptor in the child, before the program starts.

What the child gets is what :class:`subprocess.Popen` gives it with ``cwd``,
``stdin=DEVNULL``, ``start_new_session=True``, ``close_fds=True`` and
``restore_signals=True``: a session of its own, standard input from ``/dev/null``,
standard output and error truncated or created (mode 0644), no other descriptor, and
``SIGPIPE``/``SIGXFSZ`` back to their default action (Python ignores them).

Python 3.11's :func:`os.posix_spawn` cannot change the child's directory, so this goes
through ``ctypes`` to glibc (2.34 or later: ``posix_spawn_file_actions_addchdir_np`` and
``..._addclosefrom_np``). Where they are missing, :func:`spawner` is None and the caller
uses ``Popen``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

# glibc's <spawn.h>: POSIX_SPAWN_SETSIGDEF and POSIX_SPAWN_SETSID (a flag it does not
# know makes posix_spawnattr_setflags fail: then there is no spawner).
_SETSIGDEF = 0x04
_SETSID = 0x80
# Room for glibc's posix_spawnattr_t (336 bytes on x86-64) and
# posix_spawn_file_actions_t (80), with a margin for other layouts.
_ATTR_SIZE = 1024
_ACTIONS_SIZE = 512
_SIGSET_SIZE = 128  # sigset_t: 1024 bits
# O_NOFOLLOW: a link an earlier job (the build) planted at the output's name is never
# followed by this process's privileges (the run's own outputs are removed before it).
_OPEN_OUT = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
_CREATE = _OPEN_OUT | os.O_CLOEXEC  # (opened here, for Popen: not inherited by others)
_DEFAULT_SIGNALS = ("SIGPIPE", "SIGXFZ", "SIGXFSZ")  # what Popen's restore_signals resets

_ptr = ctypes.c_void_p
# The file actions' memory, one per start (starts in several threads never share one).
_Actions = ctypes.c_char * _ACTIONS_SIZE


class Spawner:
    """Starts processes with ``posix_spawn`` (see the module's text)."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._spawn = libc.posix_spawn
        self._spawn.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, _ptr, _ptr]
        self._spawn.argtypes += [_ptr, _ptr]
        # The file actions are filled in holding the GIL (the same library through PyDLL):
        # a CDLL call lets go of it and takes it back, and in a starter thread, with the
        # loop's thread busy, each taking back is a handoff between the two threads (futex
        # calls, a wait for the loop's thread to let go). These calls only fill in memory;
        # posix_spawn alone waits for something (the child's exec), and lets go.
        quick = ctypes.PyDLL(None, handle=libc._handle, use_errno=True)
        self._init = quick.posix_spawn_file_actions_init
        self._destroy = quick.posix_spawn_file_actions_destroy
        self._open = quick.posix_spawn_file_actions_addopen
        self._open.argtypes = [_ptr, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
        self._chdir = quick.posix_spawn_file_actions_addchdir_np
        self._chdir.argtypes = [_ptr, ctypes.c_char_p]
        self._closefrom = quick.posix_spawn_file_actions_addclosefrom_np
        self._closefrom.argtypes = [_ptr, ctypes.c_int]
        # One set of attributes for every child: a new session, and the signals Python
        # ignores back to their default action.
        self._attr = ctypes.create_string_buffer(_ATTR_SIZE)
        if libc.posix_spawnattr_init(self._attr) != 0:
            raise OSError("posix_spawnattr_init failed")
        defaults = ctypes.create_string_buffer(_SIGSET_SIZE)
        libc.sigemptyset(defaults)
        for name in _DEFAULT_SIGNALS:
            if hasattr(signal, name):
                libc.sigaddset(defaults, int(getattr(signal, name)))
        if libc.posix_spawnattr_setsigdefault(self._attr, defaults) != 0:
            raise OSError("posix_spawnattr_setsigdefault failed")
        if libc.posix_spawnattr_setflags(self._attr, ctypes.c_short(_SETSID | _SETSIGDEF)) != 0:
            raise OSError("this C library's posix_spawn cannot start a new session")
        # The environment last given as a tuple, and its C array: the runner's own is the
        # same for every job, and converting each entry is a step per variable per job.
        # One pair, read and replaced whole: threads that start jobs at once never see one
        # tuple with another's array.
        self._kept: tuple[tuple[bytes, ...], ctypes.Array[ctypes.c_char_p]]
        self._kept = ((), (ctypes.c_char_p * 0)())

    def spawn(
        self,
        executable: str,
        argv: Sequence[str],
        env: Sequence[bytes],
        *,
        cwd: str,
        stdout: str,
        stderr: str,
        via: Callable[..., Any] | None = None,
        extra: Sequence[bytes] = (),
    ) -> int:
        """Start ``executable`` with ``argv`` and ``env`` (``b"NAME=value"`` entries), then
        ``extra`` ones, in ``cwd``, its output going to ``stdout`` and ``stderr``; return its
        pid. An ``env`` tuple is kept as a C array until another is given (the same tuple
        again costs nothing to convert). ``via``
        runs the C call (``via(posix_spawn, *args)``) in the thread whose credentials the
        child gets (:meth:`assay.transports.capthread.CapsDroppedThread.call`). Raises
        :class:`OSError` as :class:`subprocess.Popen` would (no such program or directory,
        not executable), and :class:`ValueError` for a NUL byte, which C strings cannot
        hold."""
        # os.fsencode of each str, as C calls (os.fsencode is a Python function).
        fs, errors = _FS_ENCODING, _FS_ERRORS
        args = [a.encode(fs, errors) for a in argv]
        paths = [p.encode(fs, errors) for p in (executable, cwd, stdout, stderr)]
        # One search of all the strings at once (a C string ends at its first NUL); a kept
        # environment was searched when it was given.
        kept = self._kept
        known = env is kept[0]
        if b"\0" in b"\1".join([*args, *paths, *extra] if known else [*args, *paths, *extra, *env]):
            raise ValueError("embedded null byte")
        argv_c = (ctypes.c_char_p * (len(args) + 1))(*args, None)
        env_c = self._environment(env, kept if known else None, extra)
        actions = _Actions()  # (zeroed, as create_string_buffer's: a Python call less)
        if self._init(actions) != 0:
            raise OSError(ctypes.get_errno() or 12, "posix_spawn_file_actions_init failed")
        try:
            # In this order in the child: the output files are named as the caller sees
            # them (relative ones from this process's directory), then the directory changes.
            added = (
                self._open(actions, 0, os.devnull.encode(), os.O_RDONLY, 0)
                or self._open(actions, 1, paths[2], _OPEN_OUT, 0o644)
                or self._open(actions, 2, paths[3], _OPEN_OUT, 0o644)
                or self._closefrom(actions, 3)
                or self._chdir(actions, paths[1])
            )
            if added:
                raise OSError(added, os.strerror(added))
            pid = ctypes.c_int(0)
            args_c = (ctypes.byref(pid), paths[0], actions, self._attr, argv_c, env_c)
            failed = self._spawn(*args_c) if via is None else via(self._spawn, *args_c)
        finally:
            self._destroy(actions)
        if failed:
            raise OSError(failed, os.strerror(failed), _failed_on(executable, cwd, stdout, stderr))
        return pid.value

    def _environment(
        self,
        env: Sequence[bytes],
        kept: tuple[tuple[bytes, ...], ctypes.Array[ctypes.c_char_p]] | None,
        extra: Sequence[bytes],
    ) -> ctypes.Array[ctypes.c_char_p]:
        """``env`` then ``extra`` as a NULL-terminated C array; ``kept``: ``env`` is the
        kept tuple, and this its array."""
        if kept is None and isinstance(env, tuple):
            kept = self._kept = (env, (ctypes.c_char_p * len(env))(*env))
        if kept is None:
            return (ctypes.c_char_p * (len(env) + len(extra) + 1))(*env, *extra, None)
        # The kept pointers copied at once (their bytes live in the kept tuple, which the
        # caller holds until the child started), then the extra entries.
        kept_c = kept[1]
        count = len(env)
        env_c = (ctypes.c_char_p * (count + len(extra) + 1))()
        ctypes.memmove(env_c, kept_c, ctypes.sizeof(kept_c))
        for at, entry in enumerate(extra, count):
            env_c[at] = entry  # (the array keeps a reference to each)
        return env_c


_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


def _failed_on(executable: str, cwd: str, stdout: str, stderr: str) -> str:
    """What a failed start names, as Popen names it: the output file or directory that is
    not there, else the program."""
    for output in (stdout, stderr):
        if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
            return output
    if not os.path.isdir(cwd):
        return cwd
    return executable


@functools.cache
def spawner() -> Spawner | None:
    """The spawner of this process, or None where the C library cannot do what it needs."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return Spawner(libc)
    except (OSError, AttributeError):  # not glibc >= 2.34 (or an unknown flag)
        return None


class OwnEnvironment:
    """This process's environment as ``posix_spawn`` takes it, made again only when it
    changed (a hook may set a variable): a dict comparison per job, where encoding it is a
    Python step per variable."""

    def __init__(self) -> None:
        self._seen: dict[bytes, bytes] | None = None
        self._entries: tuple[bytes, ...] = ()
        self._index: dict[bytes, int] = {}

    def _current(self) -> bool:
        """Bring the encoded copy up to date; False where there is no cache (not CPython's
        POSIX ``os.environ``)."""
        data = getattr(os.environ, "_data", None)
        if not isinstance(data, dict):
            return False
        if data != self._seen:
            self._seen = dict(data)
            # Names in os.environ hold no "=" (putenv refuses them): nothing to check.
            self._entries = tuple([name + b"=" + value for name, value in data.items()])
            self._index = {name: at for at, name in enumerate(data)}
        return True

    def entries(self) -> Sequence[bytes]:
        """The environment's ``NAME=value`` entries: the same tuple for as long as the
        environment is unchanged (:meth:`Spawner.spawn` keeps its C array)."""
        if not self._current():
            return environment(dict(os.environb))
        return self._entries

    def changed(self, changes: Mapping[bytes, bytes | None]) -> list[bytes]:
        """The environment's entries with ``changes`` made, as the merge of the whole dict
        gives them: a changed variable in its place, a new one at the end in the order
        given, a None value removing it (a name with ``=`` is refused)."""
        if not self._current():
            merged = dict(os.environb)
            for name, value in changes.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            return environment(merged)
        entries = list(self._entries)
        index = self._index
        removed: list[int] = []
        for name, value in changes.items():
            if b"=" in name:
                raise ValueError(f"illegal environment variable name: {name!r}")
            at = index.get(name)
            if value is None:
                if at is not None:
                    removed.append(at)
            elif at is None:
                entries.append(name + b"=" + value)
            else:
                entries[at] = name + b"=" + value
        # Only entries of the copy are removed, all before the appended ones: from the end.
        for at in sorted(removed, reverse=True):
            del entries[at]
        return entries


def popen(
    argv: Sequence[str],
    cwd: PurePath,
    stdout: PurePath,
    stderr: PurePath,
    environment: Mapping[Any, Any],
    executable: str | None,
) -> subprocess.Popen[bytes]:
    """Start a job process with :class:`subprocess.Popen` (what :class:`Spawner` does
    otherwise)."""
    out = os.open(stdout, _CREATE, 0o644)
    try:
        err = os.open(stderr, _CREATE, 0o644)
        try:
            return subprocess.Popen(
                list(argv),
                executable=executable,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=environment,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(err)
    finally:
        os.close(out)


def environment(variables: dict[bytes, bytes]) -> list[bytes]:
    """``variables`` as ``posix_spawn`` takes them (a name with ``=`` is refused, as
    :class:`subprocess.Popen` refuses it)."""
    entries = []
    for name, value in variables.items():
        if b"=" in name:
            raise ValueError(f"illegal environment variable name: {name!r}")
        entries.append(name + b"=" + value)
    return entries
