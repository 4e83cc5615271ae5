"""The engine as one file, for jobs on machines without assay: ``python3 -I compare.pyz``.

A zip of this package (as ``assay_compare``, so that nothing named ``assay`` is imported)
with a ``__main__.py``: Python runs such a file directly, isolated mode included. Its bytes
depend only on the engine's sources.
"""

from __future__ import annotations

import io
import os
import zipfile

PACKAGE = "assay_compare"
_MAIN = f"import sys\n\nfrom {PACKAGE}.cli import main\n\nsys.exit(main())\n"
_STAMP = (1980, 1, 1, 0, 0, 0)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _STAMP)
    info.external_attr = 0o644 << 16
    return info


def bundle_bytes() -> bytes:
    """The bundle's bytes (the same for the same engine sources)."""
    archive = getattr(globals().get("__loader__"), "archive", None)
    if archive:  # running from a bundle: that is the bundle
        with open(archive, "rb") as fh:
            return fh.read()
    here = os.path.dirname(os.path.abspath(__file__))
    sources = sorted(n for n in os.listdir(here) if n.endswith(".py") and n != "__main__.py")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_entry("__main__.py"), _MAIN)
        for name in sources:
            with open(os.path.join(here, name), "rb") as fh:
                zf.writestr(_entry(f"{PACKAGE}/{name}"), fh.read())
    return buffer.getvalue()


def write_bundle(target: str) -> str:
    """Write the bundle to ``target`` (atomically); its path."""
    data = bundle_bytes()
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
