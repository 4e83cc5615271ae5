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


class _Importer:
    """Serves the sources above as the package {package}."""

    def find_spec(self, name, path=None, target=None):
        if name not in _SOURCES:
            return None
        from importlib.machinery import ModuleSpec  # importlib.util costs a start ~10 ms

        return ModuleSpec(name, self, is_package=name == "{package}")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(_SOURCES[module.__name__], "<assay-agent>/" + module.__name__, "exec")
        exec(code, module.__dict__)


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
