"""asyncssh, imported without its search for optional libraries by compiling a program.

asyncssh looks for liboqs (post-quantum key exchange, twice) and libnettle (UMAC) with
``ctypes.util.find_library`` at import, which on Linux runs ``ldconfig -p``, then ``gcc``
and ``ld`` on a test program when the library is not there: some 30 programs started, on
every run over SSH. Here they are looked for as the dynamic loader finds a file name: in
the directories of ``LD_LIBRARY_PATH``, of ``/etc/ld.so.conf`` and the standard ones. Only
the import sees this lookup; ``find_library`` is restored right after.
"""

from __future__ import annotations

import ctypes.util
import glob
import os

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
    try:
        import asyncssh  # noqa: F401 - imported here, with the lookup above
    finally:
        ctypes.util.find_library = real


_import()

import asyncssh  # noqa: E402 - already imported above: the module for the others

__all__ = ["asyncssh", "find_lib"]
