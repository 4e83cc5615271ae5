"""asyncio without the submodules a run does not use before its first case starts.

``import asyncio`` imports all of asyncio's modules, among them queues, streams, subprocess,
task groups, timeouts and ``to_thread``: 12 M instructions (some 4%) of the work before a
lone case's process starts, for what a local run uses later, or not at all. While
:func:`deferred` lasts (around asyncio's first import, :func:`assay.deferssl.import_asyncio`)
each of these is an empty stand-in, and :func:`settle` then gives the asyncio package a
module ``__getattr__`` (PEP 562): the first name asyncio lacks (``asyncio.Queue``,
``asyncio.timeout``, ``from asyncio import *``, which reads ``__all__``) imports the real
modules, puts their names in asyncio as its ``__init__`` would have, and answers from them.
A direct ``import asyncio.streams`` imports the real module, as always.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

# asyncio's submodules that its package imports (``from .queues import *``) and that none
# of the others imports when asyncio is imported, in the package's order: Python 3.11's
# asyncio (on 3.12 ``tasks`` imports ``timeouts``: :func:`applies`).
LATER = (
    "asyncio.queues",
    "asyncio.streams",
    "asyncio.subprocess",
    "asyncio.taskgroups",
    "asyncio.timeouts",
    "asyncio.threads",
)
# Those whose names 3.11's asyncio leaves out of its ``__all__`` (it imports them).
_NOT_IN_ALL = frozenset({"asyncio.taskgroups"})


def applies() -> bool:
    """Whether this Python's asyncio is the one :data:`LATER` describes."""
    return sys.version_info[:2] == (3, 11)


# Whether this thread is importing the real modules (their own ``from . import streams``
# asks asyncio for a name it lacks: left to the import system). Per thread, and no lock
# around the imports: a lock held while importing would wait on a module another thread is
# importing, whose own ``from . import ...`` would wait on the lock (a deadlock the import
# system cannot see); its per-module locks already make concurrent imports safe.
_loading = threading.local()


class _StandIns:
    """A finder of the import system that makes each module of :data:`LATER` an empty one
    (no names to export), made and put on its package as a real submodule would be."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        if name not in LATER:
            return None
        return importlib.machinery.ModuleSpec(name, self)  # type: ignore[arg-type]

    def create_module(self, spec: Any) -> None:
        return None  # (the default module)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__all__ = ()  # type: ignore[attr-defined]
        module.__assay_stand_in__ = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """While it lasts, an import of asyncio gets stand-ins for the modules of :data:`LATER`
    (to be settled with :func:`settle` once asyncio is in)."""
    finder = _StandIns()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def settle(asyncio: types.ModuleType) -> None:
    """Take the stand-ins out of ``sys.modules`` and of ``asyncio`` (an import of one of
    them then imports the real module), and leave ``asyncio.__all__`` and the names of the
    real modules to its ``__getattr__``. Nothing if asyncio got no stand-in."""
    stood = [n for n in LATER if getattr(sys.modules.get(n), "__assay_stand_in__", False)]
    if not stood:
        return
    for name in stood:
        del sys.modules[name]
        short = name.rpartition(".")[2]
        if getattr(getattr(asyncio, short, None), "__assay_stand_in__", False):
            delattr(asyncio, short)
    namespace = vars(asyncio)
    partial = tuple(namespace.pop("__all__", ()))

    def __getattr__(name: str) -> Any:
        _load(asyncio, partial)
        try:
            return namespace[name]
        except KeyError:
            raise AttributeError(f"module 'asyncio' has no attribute {name!r}") from None

    namespace["__getattr__"] = __getattr__


def _load(asyncio: types.ModuleType, partial: tuple[str, ...]) -> None:
    """Import the real modules of :data:`LATER` and give asyncio their names, and its whole
    ``__all__``, as its ``__init__`` does (a name asked for while this thread imports
    them, by their own ``from . import ...``, is left to the import system)."""
    namespace = vars(asyncio)
    if namespace.get("__getattr__") is None or getattr(_loading, "on", False):
        return
    _loading.on = True
    try:
        names = list(partial)
        for full in LATER:
            module = importlib.import_module(full)
            exported = tuple(getattr(module, "__all__", ()))
            for name in exported:
                namespace[name] = getattr(module, name)
            if full not in _NOT_IN_ALL:
                names += exported
        # (two threads may both get here: the same objects, set twice)
        namespace["__all__"] = tuple(names)
        namespace.pop("__getattr__", None)  # (every name is in now)
    finally:
        _loading.on = False
