"""How the host agent starts on the host: ``PYTHON -I -S -c BOOT AGENT DIGEST ARGS...``.

Run as it is, the agent (a zip of some 1,600 lines of modules: :mod:`.hostagent_pack`)
would be compiled again on every start: about 9 ms of the host's CPU on the way to the
first case, and ``site`` (``-S`` leaves it out: the agent uses the standard library only)
4 ms more. :data:`BOOT` reads the agent's zip, refuses a copy whose SHA-256 does not start
with ``DIGEST`` (exit 3: a damaged or stale copy, sent again), and runs the zip's
``__main__`` with ``ARGS``, its modules served by an importer of its own from their code
compiled once per host, Python and agent version (one ``{module: code}`` marshal, read
without opening the zip): kept in ``~/.cache/assay-agent/`` (``$XDG_CACHE_HOME``), as the
store agent's modules are, and used only if nobody else may write the folder or the file
and the file's own checksum matches. A failure to keep it costs the next start its
compile, nothing else.

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
            data = fh.read()
    except OSError as exc:
        sys.stderr.write('assay agent: cannot read %s: %s\\n' % (path, exc.strerror))
        sys.exit(2)
    if not digest or not sha256(data).hexdigest().startswith(digest):
        sys.stderr.write('assay agent: this copy is not the one assay sent\\n')
        sys.exit(3)
    sys.argv = [path] + sys.argv[3:]
    globals()['__file__'] = path
    codes = _b_compiled(os, sha256, path, data)
    sys.meta_path.insert(0, _BImporter(codes))
    return codes['__main__']


class _BImporter:
    def __init__(self, codes):
        self.codes = codes

    def find_spec(self, name, path=None, target=None):
        if name == '__main__' or name not in self.codes:
            return None
        from importlib._bootstrap import ModuleSpec  # loaded: machinery is a file to find

        return ModuleSpec(name, self, is_package='.' not in name)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.codes[module.__name__], module.__dict__)


def _b_sources(path, data):
    import io
    import zipfile

    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.endswith('.py'):
                module = name[:-3].replace('/', '.')
                if module.endswith('.__init__'):
                    module = module[:-9]
                found[module] = (path + '/' + name, zf.read(name))
    return found


def _b_compiled(os, sha256, path, data):
    import marshal
    from importlib._bootstrap_external import MAGIC_NUMBER

    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    folder = os.path.join(base, 'assay-agent')
    key = sha256(MAGIC_NUMBER + sha256(data).digest()).hexdigest()[:32]
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
                kept = fh.read()
            if info.st_uid == os.getuid() and not info.st_mode & 0o022:
                if sha256(kept[32:]).digest() == kept[:32]:
                    codes = marshal.loads(kept[32:])
                    if isinstance(codes, dict) and '__main__' in codes:
                        return codes
        except (OSError, ValueError, EOFError, TypeError):
            pass
    codes = {}
    for module, (name, source) in _b_sources(path, data).items():
        codes[module] = compile(source, name, 'exec')
    if cached:
        kept = marshal.dumps(codes)
        tmp = '%s.%d.tmp' % (cached, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'wb') as fh:
                fh.write(sha256(kept).digest() + kept)
            os.replace(tmp, cached)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return codes


exec(_b_main())
"""

BOOT = f"exec({_PROGRAM!r})"
"""The ``-c`` program (see the module's text)."""


def agent_command(python: str, program: str, digest: str, args: Sequence[str]) -> str:
    """The shell command that starts the agent file ``program`` with ``args``."""
    return shlex.join([python, "-I", "-S", "-c", BOOT, program, digest, *args])
