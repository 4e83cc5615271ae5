"""asyncio without :mod:`ssl` until something uses it.

asyncio imports ``ssl`` when it is imported (``base_events``, ``selector_events`` and
``sslproto`` each ``try: import ssl``), and ``ssl`` loads OpenSSL and builds its enums: 7%
of the work before a lone case starts, for a module that a local run never uses.
:func:`import_asyncio` imports asyncio as a Python built without ``ssl`` would, then hands
those three modules a stand-in that imports the real ``ssl`` at the first use of any of its
names and puts the real module in its place. Every SSL path in asyncio reads such a name
before it needs anything else from ``ssl``; ``sslproto.SSLAgainErrors``, which asyncio only
defines when ``ssl`` imported, is defined then too.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

# asyncio's modules that keep ``ssl`` as a global of their own.
_USERS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")


def import_asyncio() -> None:
    """Import asyncio, leaving ``ssl`` out until it is used. A plain ``import asyncio`` when
    asyncio or ``ssl`` is already in, when another thread runs (it might import ``ssl``
    while this one has it marked as missing), or when this Python has no ``ssl``."""
    if (
        "asyncio" in sys.modules
        or "ssl" in sys.modules
        or threading.active_count() > 1
        or not _importable("ssl", "_ssl")
    ):
        import asyncio

        return
    from assay import deferasyncio

    sys.modules["ssl"] = None  # type: ignore[assignment]  # "no ssl" for the imports below
    try:
        if deferasyncio.applies():  # (and its submodules a run needs later, if at all)
            with deferasyncio.deferred():
                asyncio = importlib.import_module("asyncio")
            deferasyncio.settle(asyncio)
        else:
            importlib.import_module("asyncio")
        for name in _USERS:
            importlib.import_module(name)
    finally:
        if sys.modules.get("ssl", ...) is None:
            del sys.modules["ssl"]
    stand_in = _DeferredSSL("ssl")
    for name in _USERS:
        module = sys.modules[name]
        if getattr(module, "ssl", ...) is None:
            module.ssl = stand_in  # type: ignore[attr-defined]


def _importable(*names: str) -> bool:
    """Whether each module of ``names`` can be found (without importing it): a Python
    built without OpenSSL has ``ssl.py`` but no ``_ssl``, and asyncio must then see no
    ``ssl`` at all, as it always did, not a stand-in that fails at its first use."""
    return all(importlib.util.find_spec(name) is not None for name in names)


class _DeferredSSL(types.ModuleType):
    """Stands for ``ssl`` in asyncio's modules: the first name read imports the real
    module and puts it in this one's place."""

    def __getattr__(self, name: str) -> Any:
        real = importlib.import_module("ssl")
        for user in _USERS:
            module = sys.modules.get(user)
            if module is not None and getattr(module, "ssl", None) is self:
                module.ssl = real  # type: ignore[attr-defined]
        sslproto = sys.modules.get("asyncio.sslproto")
        if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
            # (what sslproto defines when ssl imports)
            sslproto.SSLAgainErrors = (  # type: ignore[attr-defined]
                real.SSLWantReadError,
                real.SSLSyscallError,
            )
        return getattr(real, name)
