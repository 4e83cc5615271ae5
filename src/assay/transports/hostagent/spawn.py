"""Starting a job process: :class:`Spawner` (``posix_spawn`` through ctypes) where the C
library can, and what the daemon asks of a started process (:class:`Spawned`)."""

from __future__ import annotations

import errno
import os
import signal
import sys


class Spawned:
    """A job process started by :class:`Spawner`: what the daemon asks of a ``Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        """Its status as ``Popen`` gives it (negative: killed by that signal)."""
        while self.returncode is None:
            try:
                _pid, status = os.waitpid(self.pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:  # reaped elsewhere: nothing more to learn
                self.returncode = 255
                break
            if os.WIFSIGNALED(status):
                self.returncode = -os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                self.returncode = os.WEXITSTATUS(status)
        return self.returncode


class Spawner:
    """Starts a job with the C library's ``posix_spawn`` (glibc >= 2.34), through ctypes:
    the call releases the interpreter lock while the child starts. ``Popen``'s ``vfork``
    holds it (Python < 3.12) until the child has exec'd, and the daemon's other threads
    (the answers, the exit events) wait meanwhile, for every job started. The child gets
    what ``Popen`` gives it here: its own session, stdin from ``/dev/null``, its output
    files, no other descriptor, the signals Python ignores back to their default."""

    _OUT = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW  # (see jobops.op_spawn)

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ptr = ctypes.c_void_p
        self._spawn = libc.posix_spawn
        self._spawn.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ptr, ptr, ptr, ptr]
        self._init = libc.posix_spawn_file_actions_init
        self._destroy = libc.posix_spawn_file_actions_destroy
        self._open = libc.posix_spawn_file_actions_addopen
        self._open.argtypes = [ptr, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
        self._chdir = libc.posix_spawn_file_actions_addchdir_np
        self._chdir.argtypes = [ptr, ctypes.c_char_p]
        self._closefrom = libc.posix_spawn_file_actions_addclosefrom_np
        self._closefrom.argtypes = [ptr, ctypes.c_int]
        self._attr = ctypes.create_string_buffer(1024)  # posix_spawnattr_t: 336 bytes
        if libc.posix_spawnattr_init(self._attr) != 0:
            raise OSError("posix_spawnattr_init failed")
        defaults = ctypes.create_string_buffer(128)  # sigset_t
        libc.sigemptyset(defaults)
        for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):  # what Popen's restore_signals resets
            if hasattr(signal, name):
                libc.sigaddset(defaults, int(getattr(signal, name)))
        if libc.posix_spawnattr_setsigdefault(self._attr, defaults) != 0:
            raise OSError("posix_spawnattr_setsigdefault failed")
        # POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF (a flag glibc does not know fails).
        if libc.posix_spawnattr_setflags(self._attr, ctypes.c_short(0x80 | 0x04)) != 0:
            raise OSError("this C library's posix_spawn cannot start a new session")

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> int:
        """Start ``argv`` (its program named by a path) in ``cwd``; its pid. Raises
        :class:`OSError` as ``Popen`` would, :class:`ValueError` for a NUL byte."""
        ctypes = self.ctypes
        args = [os.fsencode(a) for a in argv]
        paths = [os.fsencode(p) for p in (cwd, out, err)]
        entries = []
        for name, value in env.items():
            if "=" in name:
                raise ValueError(f"illegal environment variable name: {name!r}")
            entries.append(os.fsencode(name) + b"=" + os.fsencode(value))
        if b"\0" in b"\1".join(args + paths + entries):
            raise ValueError("embedded null byte")
        argv_c = (ctypes.c_char_p * (len(args) + 1))(*args, None)
        env_c = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
        actions = ctypes.create_string_buffer(512)  # posix_spawn_file_actions_t: 80 bytes
        if self._init(actions) != 0:
            raise OSError(errno.ENOMEM, "posix_spawn_file_actions_init failed")
        try:
            added = (
                self._open(actions, 0, os.devnull.encode(), os.O_RDONLY, 0)
                or self._open(actions, 1, paths[1], self._OUT, 0o644)
                or self._open(actions, 2, paths[2], self._OUT, 0o644)
                or self._closefrom(actions, 3)
                or self._chdir(actions, paths[0])
            )
            if added:
                raise OSError(added, os.strerror(added))
            pid = ctypes.c_int(0)
            failed = self._spawn(ctypes.byref(pid), args[0], actions, self._attr, argv_c, env_c)
        finally:
            self._destroy(actions)
        if failed:
            named = argv[0]
            for path in (out, err):
                if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                    named = path
            if named == argv[0] and not os.path.isdir(cwd):
                named = cwd
            raise OSError(failed, os.strerror(failed), named)
        return int(pid.value)


_spawner: list[Spawner | None] = []  # made at the first job: [] not yet, [None] cannot


def spawner() -> Spawner | None:
    """This daemon's :class:`Spawner`, or None where the C library cannot do it all (not
    Linux, not glibc >= 2.34, no ctypes): jobs then start with ``Popen``."""
    if not _spawner:
        made = None
        if sys.platform.startswith("linux"):
            try:
                made = Spawner()
            except (OSError, AttributeError, ImportError):
                made = None
        _spawner.append(made)
    return _spawner[0]
