"""How a job script starts on this machine: as one process, whatever it needs first.

Root ignores file modes, so a case run as root could write through a read-only hard link
into the artifact store. Such a case runs without the two capabilities that override
modes: started from the runner's thread that has dropped them (:mod:`.capthread`, one
``execve``). Where the kernel refuses that thread the drop (no ``CAP_SETPCAP``, a seccomp
filter), no case gets links: its store inputs are private copies (:func:`links_safe`).
A job behind ``setpriv`` (:data:`DROP_CAPS`) is only what a script run by hand does, and
what a batch or remote host's job does. The script carries the same
guard for a run by hand (:data:`ROOT_GUARD`); the variable :data:`CAPS_VARIABLE` tells
it the capabilities are already gone. Setting that variable (``ASSAY_ROOT_CAPS=keep``)
before ``assay run`` opts out, for a test that needs them: the scripts of that run then
say so themselves (:func:`root_lines`), because the environment of ``assay run`` does not
reach a job on another host.
"""

from __future__ import annotations

import enum
import functools
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import NamedTuple

from assay import procstate
from assay.procstate import variable
from assay.transports import capthread
from assay.transports.envchanges import EnvChanges

CAPS_VARIABLE = "ASSAY_ROOT_CAPS"
DROP_CAPS = (
    "setpriv",
    "--bounding-set=-dac_override,-fowner",
    # Out of the inheritable set too: an exec as root takes back whatever that set holds,
    # bounding set or not (older Docker put every capability there, pam_cap can).
    "--inh-caps=-dac_override,-fowner",
    "--",
)
"""The exec wrapper that starts a command without the capabilities that override modes."""

CAPS_REFUSED_EXIT = 126
"""The exit status of a job script that runs as root with the capabilities still there."""

ROOT_GUARD = (
    f'if [ "$EUID" = 0 ] && [ -z "${{{CAPS_VARIABLE}:-}}" ] && command -v setpriv >/dev/null; then',
    f"  export {CAPS_VARIABLE}=dropped",
    f'  exec {" ".join(DROP_CAPS)} /bin/bash "$0" "$@"',
    "fi",
    # Checked, not trusted: where root lacks CAP_SETPCAP (a container started without it,
    # some seccomp profiles) setpriv drops nothing and exits 0, and a host may have no
    # setpriv. Such a job could write through its read-only links into the store: it stops
    # here and says why (bits 1 and 3 of the bounding set: dac_override, fowner).
    f'if [ "$EUID" = 0 ] && [ "${{{CAPS_VARIABLE}:-}}" != keep ]; then',
    "  while read -r _assay_key _assay_caps; do",
    '    [ "$_assay_key" = CapBnd: ] && break',
    "  done < /proc/self/status",
    '  [ "$_assay_key" = CapBnd: ] || _assay_caps=0',
    "  if (( 0x${_assay_caps:-0} & 0xa )); then",
    '    echo "assay: this job runs as root on $HOSTNAME and could not drop CAP_DAC_OVERRIDE'
    " and CAP_FOWNER (setpriv needs CAP_SETPCAP, or is missing), so it could write through"
    " its read-only links into the artifact store: it stops here. Give the host CAP_SETPCAP"
    " and setpriv, run as a user other than root, or set"
    f' {CAPS_VARIABLE}=keep to run with them." >&2',
    f"    exit {CAPS_REFUSED_EXIT}",
    "  fi",
    "fi",
)
"""The lines that make a script run by hand as root drop the same capabilities, and stop it
where they are still there afterwards."""

KEEP = "keep"
"""The value of :data:`CAPS_VARIABLE` that keeps the capabilities, here and on any host."""


def root_lines(protect_inputs: bool, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The lines of a job script about root's capabilities: none without store links; with
    them the guard, unless the run was started with ``ASSAY_ROOT_CAPS=keep``, which the
    script then carries itself (the guard, and the job's own children, see it set)."""
    if not protect_inputs:
        return []
    if _caps(environ) == KEEP:
        return [f"export {CAPS_VARIABLE}={KEEP}  # set for the run that wrote this script"]
    return list(ROOT_GUARD)


@functools.cache
def _setpriv() -> str | None:
    """Where ``setpriv`` is: found once, so that no job start searches ``$PATH`` for it
    (each miss is an ``execve`` while the runner waits for the child to start)."""
    found = shutil.which(DROP_CAPS[0])
    return os.path.abspath(found) if found else None


def _have_setpriv() -> bool:
    return _setpriv() is not None


class Drop(enum.Enum):
    """How a job started on this machine drops the capabilities."""

    IN_RUNNER = "runner"
    """Started from the runner's thread without them: the job's program is the one exec."""


def caps_drop(protect_inputs: bool, environ: Mapping[str, str] = os.environ) -> Drop | None:
    """How a job with read-only store links drops the capabilities here: from the runner's
    thread without them, where the kernel lets it drop them (it checks that they are gone);
    None where it keeps them (not root, a run with ``ASSAY_ROOT_CAPS`` set) or cannot drop
    them: then its inputs are copies, not links (:func:`links_safe`). No ``setpriv``
    wrapper here: where the thread's ``prctl`` is refused, so is setpriv's, which says
    nothing and exits 0 (the job would run with them, told they are gone)."""
    if not protect_inputs or os.geteuid() != 0 or _caps(environ):
        return None
    if capthread.dropped_thread() is not None:
        return Drop.IN_RUNNER
    return None


def _caps(environ: Mapping[str, str]) -> str | None:
    """``ASSAY_ROOT_CAPS`` in ``environ`` (os.environ's read from its dict: see
    :func:`assay.procstate.variable`; asked a few times per case, and mostly unset)."""
    return variable(CAPS_VARIABLE) if environ is procstate.environ else environ.get(CAPS_VARIABLE)


def links_safe(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this machine's jobs may see read-only hard links into the store: they
    provably cannot write through them (not root; the runner's thread dropped the
    capabilities, checked with the kernel; or this thread has none to give), or the run
    keeps them on purpose (``ASSAY_ROOT_CAPS=keep``). Else a case's store inputs are
    private copies. Decided once per process (the thread's answer is kept)."""
    if os.geteuid() != 0:
        return True
    caps = _caps(environ)
    if caps == KEEP:
        return True
    if not caps and capthread.dropped_thread() is not None:
        return True
    # ASSAY_ROOT_CAPS set (a claim that they are gone: caps_drop drops nothing), or no
    # thread could drop them: safe only if no job of this thread can have them.
    return _lacks_them()


@functools.cache  # asked per case where the thread could not drop them: read once
def _lacks_them() -> bool:
    """Whether a program this thread starts (as root) cannot have :data:`capthread.DROPPED`:
    out of its bounding, inheritable and ambient sets."""
    try:
        with open("/proc/thread-self/status", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return False
    bits = sum(1 << cap for cap in capthread.DROPPED)
    sets: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("CapBnd", "CapInh", "CapAmb"):
            sets[name] = int(value.strip(), 16)
    return len(sets) == 3 and all(value & bits == 0 for value in sets.values())


def job_argv(script: PurePath, drop_caps: bool) -> list[str]:
    """The argv that runs ``script``: bash, behind the wrapper when it must drop them."""
    argv = ["/bin/bash", str(script)]
    if not drop_caps:
        return argv
    return [_setpriv() or DROP_CAPS[0], *DROP_CAPS[1:], *argv]


def job_env(drop_caps: bool) -> EnvChanges | None:
    """The environment of the job process: the runner's own (None), or with the guard's
    variable set when the wrapper has dropped the capabilities already."""
    return EnvChanges({CAPS_VARIABLE: "dropped"}) if drop_caps else None


# How a run script's one program starts without bash: its argv, its environment (the
# runner's with the job's changes, merged by the transport) and the program the process
# execs (``argv[0]`` is the word as written). Written as a call, not a class: the class
# form's annotations are strings here (``from __future__ import annotations``), which typing
# compiles as the module loads (see :data:`assay.run.sites.Wanted`).
DirectStart = NamedTuple(  # noqa: UP014 - the class form compiles its annotations
    "DirectStart", [("argv", list[str]), ("env", EnvChanges), ("executable", str)]
)


def direct_start(
    direct: tuple[Sequence[str], Mapping[str, str]],
    workdir: PurePath,
    drop_caps: bool,
    wrapper: bool = True,
) -> DirectStart | None:
    """The argv and environment that start a run script's one program directly (``direct``:
    :func:`assay.run.scripts.direct_command`), as bash would have ``exec``-ed it from the
    script in ``workdir``: found on the script's ``PATH`` (or relative to ``workdir``), with
    the variables as bash passes them on (``PWD``, ``OLDPWD``, ``SHLVL``, no ``_``), behind
    the capability wrapper when it must drop them (``wrapper``; without it the caller
    starts the program without them, and the environment says they are gone). None where
    bash would do something
    else: no such program or not executable (bash says so), a file without ``#!`` or ELF
    header (bash runs it as a script), a function exported under its name, a relative
    ``PATH`` entry, a ``BASH_ENV``, ``SHELLOPTS`` or ``BASHOPTS`` in this environment, a
    variable of the test's that bash sets itself (``SHLVL``, ``PWD``, ``UID``...)."""
    words, variables = direct
    name = words[0]
    function = f"BASH_FUNC_{name}%%"
    if function in variables or variable(function) is not None:
        return None
    for startup in _BASH_STARTUP:
        if variable(startup):
            return None
    if not _BASH_OWN.isdisjoint(variables):
        return None
    path = variables["PATH"] if "PATH" in variables else variable("PATH")
    found = _find(name, workdir, path)
    if found is None or not _loadable(*found):
        return None
    program = found[0]
    # Only the changes: the transport merges them into its encoded copy of os.environ.
    changes: dict[str, str | None] = dict(variables)
    # As bash leaves them when it execs from a script that changed to ``workdir`` (where it
    # started): its own level counted down again, and ``_`` not passed on.
    shlvl = variable("SHLVL") or "0"  # (the test's own SHLVL left direct starts above)
    changes.update(
        PWD=str(workdir), OLDPWD=str(workdir), SHLVL=str(int(shlvl) if shlvl.isdigit() else 0)
    )
    changes["_"] = None
    # The word as written, not the path found: programs name themselves by ``argv[0]``. The
    # exec searches the same ``PATH`` (relative to ``workdir``, as bash would) and finds it.
    argv = list(words)
    if drop_caps:
        changes[CAPS_VARIABLE] = "dropped"
    if drop_caps and wrapper:
        setpriv = _setpriv() or DROP_CAPS[0]
        return DirectStart([setpriv, *DROP_CAPS[1:], *argv], EnvChanges(changes), setpriv)
    return DirectStart(argv, EnvChanges(changes), program)


# What bash reads from the environment it starts in, before the script's first line: a
# file it sources (Lmod's init sets BASH_ENV on most clusters; it may define functions and
# export variables) and shell options. The script's own exports come too late for them.
_BASH_STARTUP = ("BASH_ENV", "SHELLOPTS", "BASHOPTS")
# The test's variables bash does not pass on as exported: it refuses to set the read-only
# ones (SHELLOPTS, BASHOPTS, UID...; ``export`` still marks them, so the program gets
# bash's values), keeps its own for the dynamic ones (RANDOM, SECONDS, LINENO...), counts
# SHLVL down as it execs, and the test's PWD/OLDPWD count after its ``cd``. (A test's own
# BASH_ENV is exported too late for the script's bash to source: the program gets it as
# it is either way, and a bash it starts sources it either way.)
_BASH_OWN = frozenset(
    {
        *("SHELLOPTS", "BASHOPTS", "SHLVL", "PWD", "OLDPWD", "UID", "EUID", "PPID"),
        *("BASHPID", "BASH_VERSINFO", "RANDOM", "SRANDOM", "SECONDS", "LINENO"),
        *("EPOCHSECONDS", "EPOCHREALTIME", "HISTCMD", "GROUPS", "FUNCNAME"),
        *("BASH_SUBSHELL", "BASH_COMMAND", "OPTIND"),
    }
)


def _find(name: str, workdir: PurePath, path: str | None) -> tuple[str, os.stat_result] | None:
    """Where bash in ``workdir`` finds the program ``name``, with what ``stat`` said of it
    there (None: it would not)."""
    if "/" in name:
        here = os.path.join(workdir, name)
        info = _executable(here)
        return None if info is None else (os.path.normpath(here), info)
    if path is None:
        return None
    # (String operations, not os.path.isabs and join: two Python calls, four with theirs,
    # per PATH entry, for every case started directly; ``name`` has no "/" here.)
    for folder in path.split(":"):
        if not folder.startswith("/"):
            return None  # relative to the job's directory, not this process's: bash decides
        found = folder + name if folder.endswith("/") else f"{folder}/{name}"
        info = _executable(found)
        if info is not None:
            return found, info
    return None


def _executable(path: str) -> os.stat_result | None:
    """``stat`` of ``path`` when it is a regular file this process may execute."""
    # access() first: most PATH entries have no such name, and a False costs no exception
    # (a failed stat raises one: most of the search's Python work).
    try:
        if not os.access(path, os.X_OK):
            return None
        info = os.stat(path)
    except (OSError, ValueError):  # (as os.path.isfile: a NUL in the path, a name too long)
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _loadable(path: str, info: os.stat_result) -> bool:
    """Whether the kernel runs ``path`` (``info``: its ``stat``) itself: an ELF binary, or
    a ``#!`` script. The answer is kept per file as it is (device, inode, size, change
    times): every case of a suite starts the same program, and reading its head cost an
    open, a read and a close (and a file object's own calls) per case; a file changed or
    replaced since is read again."""
    key = (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    known = _LOADABLE.get(key)
    if known is None:
        known = _read_head(path)
        if len(_LOADABLE) >= 64:  # (many programs in one process: tests)
            _LOADABLE.clear()
        _LOADABLE[key] = known
    return known


_LOADABLE: dict[tuple[str, int, int, int, int, int], bool] = {}


def _read_head(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (OSError, ValueError):
        return False
    try:
        head = os.read(fd, 4)
    except OSError:
        return False
    finally:
        os.close(fd)
    return head.startswith(b"#!") or head == b"\x7fELF"
