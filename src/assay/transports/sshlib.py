"""asyncssh, imported without its search for optional libraries by compiling a program.

asyncssh looks for liboqs (post-quantum key exchange, twice) and libnettle (UMAC) with
``ctypes.util.find_library`` at import, which on Linux runs ``ldconfig -p``, then ``gcc``
and ``ld`` on a test program when the library is not there: some 30 programs started, on
every run over SSH. Here they are looked for as the dynamic loader finds a file name: in
the directories of ``LD_LIBRARY_PATH``, of ``/etc/ld.so.conf`` and the standard ones. Only
the import sees this lookup; ``find_library`` is restored right after.

asyncssh's X.509 certificate support needs pyOpenSSL: without it, asyncssh imported
``cryptography.x509`` (30-40 ms) only to fail on ``OpenSSL`` and offer no X.509. When
pyOpenSSL is not importable, that module is marked absent for the import (a ``None`` in
``sys.modules``, Python's own way to stop an import), so the same ImportError comes at
once; the mark is removed right after. With pyOpenSSL, nothing changes.
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import os
import sys

_STANDARD = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/usr/local/lib64")


def _loader_dirs() -> list[str]:
    found = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    confs = ["/etc/ld.so.conf", *sorted(glob.glob("/etc/ld.so.conf.d/*.conf"))]
    for conf in confs:
        try:
            with open(conf) as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        found += [x.strip() for x in lines if x.strip().startswith("/")]
    return found + list(_STANDARD)


_QUICK = {"oqs", "liboqs", "nettle"}  # what asyncssh looks for as it is imported


def find_lib(
    name: str, listings: dict[str, list[str]] | None = None, dirs: list[str] | None = None
) -> str | None:
    """The path of ``lib{name}.so*`` (``name`` with or without ``lib``) where the loader
    looks (``dirs``, else :func:`_loader_dirs`), or None. ``listings`` keeps each
    directory's names between calls: each is read once (``/lib`` and ``/usr/lib`` are
    often one)."""
    stem = name if name.startswith("lib") else f"lib{name}"
    listings = {} if listings is None else listings
    seen: set[str] = set()
    for folder in _loader_dirs() if dirs is None else dirs:
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        names = listings.get(real)
        if names is None:
            try:
                names = os.listdir(real)
            except OSError:
                names = []
            listings[real] = names
        for entry in sorted(n for n in names if n.startswith(f"{stem}.so")):
            path = os.path.join(folder, entry)
            if os.path.isfile(path):
                return path
    return None


_X509 = "asyncssh.crypto.x509"  # needs pyOpenSSL; imports cryptography.x509 first


def _import() -> None:
    real = ctypes.util.find_library
    listings: dict[str, list[str]] = {}
    dirs: list[str] = []

    def quick(name: str) -> str | None:
        if name not in _QUICK:
            return real(name)
        if not dirs:
            dirs.extend(_loader_dirs())
        return find_lib(name, listings, dirs)

    ctypes.util.find_library = quick
    # asyncssh.crypto imports its X.509 module in a try/except ImportError.
    skip_x509 = _X509 not in sys.modules and importlib.util.find_spec("OpenSSL") is None
    if skip_x509:
        sys.modules[_X509] = None  # type: ignore[assignment]
    try:
        import asyncssh  # noqa: F401 - imported here, with the lookup above
    finally:
        ctypes.util.find_library = real
        if skip_x509 and sys.modules.get(_X509, 0) is None:
            del sys.modules[_X509]


_import()

import asyncssh  # noqa: E402 - already imported above: the module for the others

__all__ = ["asyncssh", "find_lib"]
