"""The agent as one Python file, generated from this package (imported by assay, not shipped).

The file holds every module's source as a string and a tiny importer that serves them as the
package ``assay_agent`` (nothing named ``assay`` is imported on the far side), then runs
:func:`assay_agent.server.main`. Its bytes depend only on the sources. :func:`bootstrap`
is the ``python3 -I -c`` program that reads the file from stdin, compressed, and runs it, so
that nothing needs to be written on the remote host first.
"""

from __future__ import annotations

import os
import zlib

PACKAGE = "assay_agent"
_HERE = os.path.dirname(os.path.abspath(__file__))
_SKIP = ("bundle.py",)
FLOOR = (3, 7)

_HEAD = '''\
#!/usr/bin/env python3
"""The assay store agent, one file generated from assay/store/agent (do not edit):
python3 -I THIS_FILE [--root DIR] speaks assay's store protocol on stdin and stdout."""
import sys

if sys.version_info < {floor}:
    found = sys.version.split()[0]
    sys.stderr.write("assay store agent: needs Python >= {floor_text}, not %s\\n" % found)
    sys.exit(3)

_SOURCES = {{
{sources}}}


def _cache_dir():
    """Where compiled modules are kept on this host: a folder of this account's own, which
    nobody else may write (else None: compile every time)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "assay-agent")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return folder


def _compiled():
    """{{module: code}} of every module above, from this host's cache when it holds this very
    set of sources for this interpreter (checked by a SHA-256 of the cached bytes), else
    compiled now and cached (a failure to cache costs nothing but the next start's time)."""
    import marshal
    import os
    from hashlib import sha256
    from importlib._bootstrap_external import MAGIC_NUMBER

    key = sha256(MAGIC_NUMBER + repr(sorted(_SOURCES.items())).encode()).hexdigest()[:32]
    folder = _cache_dir()
    path = os.path.join(folder, key + ".bin") if folder else None
    if path:
        try:
            with open(path, "rb") as fh:
                info = os.fstat(fh.fileno())  # the file read, not whatever the name is now
                data = fh.read()
            if info.st_uid == os.getuid() and not info.st_mode & 0o022:
                if sha256(data[32:]).digest() == data[:32]:
                    codes = marshal.loads(data[32:])
                    if isinstance(codes, dict) and set(codes) == set(_SOURCES):
                        return codes
        except (OSError, ValueError, EOFError, TypeError):
            pass
    codes = {{
        name: compile(text, "<assay-agent>/" + name, "exec") for name, text in _SOURCES.items()
    }}
    if path:
        data = marshal.dumps(codes)
        tmp = "{{}}.{{}}.tmp".format(path, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(sha256(data).digest() + data)
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return codes


class _Importer:
    """Serves the sources above as the package {package} (compiled once per host)."""

    codes = None

    def find_spec(self, name, path=None, target=None):
        if name not in _SOURCES:
            return None
        from importlib.machinery import ModuleSpec  # importlib.util costs a start ~10 ms

        return ModuleSpec(name, self, is_package=name == "{package}")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if _Importer.codes is None:
            _Importer.codes = _compiled()
        exec(_Importer.codes[module.__name__], module.__dict__)


sys.meta_path.insert(0, _Importer())

if __name__ == "__main__":
    from {package}.server import main

    sys.exit(main())
'''


def _sources() -> dict[str, str]:
    names = sorted(n for n in os.listdir(_HERE) if n.endswith(".py") and n not in _SKIP)
    sources = {}
    for name in names:
        with open(os.path.join(_HERE, name), encoding="utf-8") as fh:
            text = fh.read()
        module = PACKAGE if name == "__init__.py" else f"{PACKAGE}.{name[:-3]}"
        sources[module] = text
    return sources


def agent_bytes() -> bytes:
    """The one-file agent (the same bytes for the same sources)."""
    lines = "".join(f"    {name!r}: {text!r},\n" for name, text in sorted(_sources().items()))
    floor_text = ".".join(map(str, FLOOR))
    return _HEAD.format(floor=FLOOR, floor_text=floor_text, sources=lines, package=PACKAGE).encode()


def shipped_bytes() -> bytes:
    """What the bootstrap reads from stdin: a length line, then the compressed agent."""
    packed = zlib.compress(agent_bytes(), 6)  # 9: 3x the CPU for 0.7% fewer bytes
    return b"%d\n" % len(packed) + packed


# Reads the length line and the compressed agent from stdin, then runs it as __main__ (the
# rest of stdin is the request stream). Python before 3.7 is told so by the agent itself.
BOOTSTRAP = (
    "import sys,zlib;b=sys.stdin.buffer;n=int(b.readline());"
    "exec(compile(zlib.decompress(b.read(n)),'<assay-agent>','exec'))"
)
