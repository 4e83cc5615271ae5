"""How the host agent starts on the host: ``PYTHON -I -S -c BOOT AGENT DIGEST ARGS...``.

Run as a script, the agent (one file of some 1,300 lines) was compiled again on every
start: about 9 ms of the host's CPU on the way to the first case, and ``site`` (``-S``
leaves it out: the agent uses the standard library only) 4 ms more. :data:`BOOT` reads
the agent's file, refuses a copy whose SHA-256 does not start with ``DIGEST`` (exit 3: a
damaged or stale copy, sent again), and runs the agent's code as ``__main__`` with
``ARGS``, compiled once per host, Python and agent version: kept in
``~/.cache/assay-agent/`` (``$XDG_CACHE_HOME``), as the store agent's modules are, and
used only if nobody else may write the folder or the file and the file's own checksum
matches. A failure to keep it costs the next start its compile, nothing else.

The program is one line (``exec`` of its text): a login shell that is not POSIX (csh)
takes it quoted as :func:`shlex.join` quotes it, and it holds no ``!`` (csh's history).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

_PROGRAM = """\
def _b_main():
    import os
    import sys
    from hashlib import sha256

    path, digest = sys.argv[1], sys.argv[2]
    try:
        with open(path, 'rb') as fh:
            source = fh.read()
    except OSError as exc:
        sys.stderr.write('assay agent: cannot read %s: %s\\n' % (path, exc.strerror))
        sys.exit(2)
    if not digest or not sha256(source).hexdigest().startswith(digest):
        sys.stderr.write('assay agent: this copy is not the one assay sent\\n')
        sys.exit(3)
    sys.argv = [path] + sys.argv[3:]
    globals()['__file__'] = path
    return _b_compiled(os, sha256, path, source)


def _b_compiled(os, sha256, path, source):
    import marshal
    from importlib._bootstrap_external import MAGIC_NUMBER

    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    folder = os.path.join(base, 'assay-agent')
    key = sha256(MAGIC_NUMBER + sha256(source).digest()).hexdigest()[:32]
    cached = None
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
        if info.st_uid == os.getuid() and not info.st_mode & 0o022:
            cached = os.path.join(folder, 'hostagent-' + key + '.bin')
    except OSError:
        pass
    if cached:
        try:
            with open(cached, 'rb') as fh:
                info = os.fstat(fh.fileno())  # the file read, not whatever the name is now
                data = fh.read()
            if info.st_uid == os.getuid() and not info.st_mode & 0o022:
                if sha256(data[32:]).digest() == data[:32]:
                    return marshal.loads(data[32:])
        except (OSError, ValueError, EOFError, TypeError):
            pass
    code = compile(source, path, 'exec')
    if cached:
        data = marshal.dumps(code)
        tmp = '%s.%d.tmp' % (cached, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'wb') as fh:
                fh.write(sha256(data).digest() + data)
            os.replace(tmp, cached)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return code


exec(_b_main())
"""

BOOT = f"exec({_PROGRAM!r})"
"""The ``-c`` program (see the module's text)."""


def agent_command(python: str, program: str, digest: str, args: Sequence[str]) -> str:
    """The shell command that starts the agent file ``program`` with ``args``."""
    return shlex.join([python, "-I", "-S", "-c", BOOT, program, digest, *args])
