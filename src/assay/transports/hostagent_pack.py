"""The host agent (:mod:`assay.transports.hostagent`) as the one file shipped to a host: a
zip of the package, named ``assay_hostagent`` in it (nothing named ``assay`` is imported on
the host), with a ``__main__.py``.

Its bytes depend only on the package's sources, on any machine: the entries are sorted, all
dated 1980-01-01 with the same permissions, and stored, not compressed (deflate's output may
differ between zlib builds, and the name on the host is the hash of these bytes). Python
runs the zip as it is (``python3 -I hostagent.pyz connect ...``), and
:mod:`assay.transports.ssh_boot` runs it with its modules compiled once per host.
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zipfile

PACKAGE = "assay_hostagent"
MAIN = f"import sys\n\nfrom {PACKAGE}.main import main\n\nsys.exit(main(sys.argv[1:]))\n"
_STAMP = (1980, 1, 1, 0, 0, 0)
_HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostagent")


def _entry(name: str) -> zipfile.ZipInfo:
    import zipfile

    info = zipfile.ZipInfo(name, _STAMP)
    info.external_attr = 0o644 << 16
    info.create_system = 3  # Unix, whatever this machine is
    return info


def sources() -> dict[str, bytes]:
    """The zip's entries: its path in the zip -> its bytes (the package's ``.py`` files)."""
    names = sorted(n for n in os.listdir(_HERE) if n.endswith(".py"))
    found = {"__main__.py": MAIN.encode()}
    for name in names:
        with open(os.path.join(_HERE, name), "rb") as fh:
            found[f"{PACKAGE}/{name}"] = fh.read()
    return found


def build(entries: dict[str, bytes]) -> bytes:
    """A zip of ``entries`` (its path in the zip -> its bytes), the same bytes for the same
    entries."""
    # Imported here: zipfile (with bz2, lzma, pathlib) would cost every SSH client's start
    # some 10 ms, for a zip built at most once per process.
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in sorted(entries.items()):
            zf.writestr(_entry(name), data)
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def agent_bytes() -> bytes:
    """The agent's zip (the same bytes for the same sources; built once per process)."""
    return build(sources())


def agent_digest() -> str:
    """The start of the zip's SHA-256: its name on the host, checked at every start."""
    return hashlib.sha256(agent_bytes()).hexdigest()[:16]


def write_agent(target: str) -> str:
    """Write the zip to ``target`` (atomically); its path. For tests and for looking at it."""
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(agent_bytes())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
