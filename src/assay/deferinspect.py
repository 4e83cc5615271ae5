"""The command's modules imported without :mod:`inspect` (and :mod:`ipaddress`,
:mod:`tokenize`, :mod:`bz2`, :mod:`lzma`, :mod:`copy`, :mod:`ntpath`, :mod:`logging`,
:mod:`platform`, :mod:`urllib.parse`) until something uses it.

:mod:`dataclasses` and asyncio import ``inspect`` when they are imported, and ``inspect``
imports ``ast``, ``dis`` and ``opcode`` (their enums and tables): some 27 M instructions of
the 377 M before a lone case starts (7 %, under callgrind). Neither uses it on that path:
dataclasses calls ``inspect.signature`` only for a class without a docstring, asyncio only
on coroutine and task paths, assay's own modules only on paths that come later (checking
what a test's method returned, say). While :func:`inspect_deferred` lasts, ``import
inspect`` gives a stand-in; its first attribute read imports the real module, puts it in
``sys.modules`` and in place of the stand-in in every module that imported it as
``inspect``, and answers from it: what the callers get is what they got before.

One question comes before the first case: asyncio's ``add_signal_handler`` (the run's
SIGCHLD handler) asks ``inspect.iscoroutinefunction`` about a bound method. The stand-in
answers ``iscoroutinefunction``, ``isasyncgenfunction`` and ``isgeneratorfunction`` for a
plain function, or a method of one, from its code's flags as inspect does
(:func:`code_flags`); for anything else it asks the real module.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_swap = threading.Lock()

# The code flags inspect's predicates read (CPython's, the same in every 3.x).
CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR = 0x20, 0x80, 0x200


def code_flags(func: object) -> int | None:
    """The flags of the code of ``func`` if it is a plain Python function or a method of
    one (then inspect's predicates read just these), else None. A function marked with
    3.12's ``inspect.markcoroutinefunction`` is left to inspect."""
    while isinstance(func, types.MethodType):
        func = func.__func__
    if type(func) is not types.FunctionType or "_is_coroutine_marker" in func.__dict__:
        return None
    return func.__code__.co_flags


@contextmanager
def inspect_deferred() -> Iterator[None]:
    """While it lasts, ``import inspect`` (and ``import ipaddress``, which urllib.parse,
    and so pathlib, imports for one check of a URL's host: 5 M instructions; ``import
    tokenize``, which linecache, and so traceback and asyncio, imports to read a source
    file's lines for a traceback: 3 M; bz2, lzma, copy and ntpath, see below) gives a
    stand-in that imports the real module on first use. Nothing changes for a module in
    already, nor when another thread runs (it would see the stand-in, which works, but that
    thread is none of this block's)."""
    if threading.active_count() > 1:
        yield
        return
    deferred: list[tuple[str, type[_Deferred]]] = [
        ("inspect", _DeferredInspect),
        ("ipaddress", _Deferred),
        ("tokenize", _Deferred),
        # What the command's modules import and do not use before its first case: copy
        # (dataclasses', for asdict and astuple) and ntpath (pathlib's, for Windows paths).
        ("copy", _Deferred),
        ("ntpath", _Deferred),
        # logging: asyncio's and concurrent.futures' loggers, which log nothing before the
        # first case (some 20 classes and the root logger: 3.7 M instructions).
        ("logging", _DeferredLogging),
        # platform: uuid's (msgspec's), which asks it for the system's name only.
        ("platform", _DeferredPlatform),
    ]
    # shutil imports bz2 and lzma only to learn whether they are there (for its archive
    # formats): 3.6 M instructions. Stood in for only where their C modules are, so that
    # shutil learns what it learned before.
    deferred += [(name, _Deferred) for name in ("bz2", "lzma") if _extension_there(f"_{name}")]
    stand_ins: list[_Deferred] = [cls(name) for name, cls in deferred if name not in sys.modules]
    # urllib.parse: pathlib's, for as_uri (some 20 classes and functions: 3.5 M instructions).
    if "urllib.parse" not in sys.modules:
        import urllib  # (an empty package: the stand-in is its attribute, as import makes it)

        parse = DeferredNames("urllib.parse", ("quote_from_bytes",))
        setattr(urllib, "parse", parse)  # noqa: B010 - (mypy: a module's attribute)
        stand_ins.append(parse)
    for stand_in in stand_ins:
        sys.modules[stand_in.__name__] = stand_in
    try:
        yield
    finally:  # (imports after the block get the real module; the stand-in still works)
        with _swap:
            for stand_in in stand_ins:
                if sys.modules.get(stand_in.__name__) is stand_in:
                    del sys.modules[stand_in.__name__]


def _extension_there(name: str) -> bool:
    """Whether the C module ``name`` can be found (as ``import`` would look for it)."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def real_module(stand_in: types.ModuleType) -> types.ModuleType:
    """The real module ``stand_in`` stands for (imported now if need be), put in its place
    in ``sys.modules`` and in the modules that hold it under its name."""
    name = stand_in.__name__
    with _swap:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
    real = importlib.import_module(name)
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and namespace.get(name) is stand_in:
            namespace[name] = real
    return real


class _Deferred(types.ModuleType):
    """Stands for a module: any name read is the real module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(real_module(self), name)


class DeferredNames(_Deferred):
    """Stands for a module another takes names from (``from x import a``) as it is
    imported: those names (``taken``) are functions that import the real module when
    called and call the real one; any other name read imports it too. Once imported, the
    real module and its functions replace the stand-in and its functions in every module
    that holds them. Not a package: ``from x import a`` asks for ``__path__`` first."""

    def __init__(self, name: str, taken: tuple[str, ...]) -> None:
        super().__init__(name)
        self._forwards = {attr: self._forward(attr) for attr in taken}
        for attr, forward in self._forwards.items():
            setattr(self, attr, forward)

    def _forward(self, attr: str) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._load(), attr)(*args, **kwargs)

        forward.__name__ = forward.__qualname__ = attr
        return forward

    def __getattr__(self, name: str) -> Any:
        if name == "__path__":
            raise AttributeError(name)
        return getattr(self._load(), name)

    def _load(self) -> types.ModuleType:
        """The real module, imported if need be, put in place of this stand-in and of its
        functions (a package's own attribute is set by the import)."""
        real = real_module(self)
        pairs = [(self, real), *((f, getattr(real, a)) for a, f in self._forwards.items())]
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict) or module is self:
                continue
            for key, value in list(namespace.items()):
                for old, new in pairs:
                    if value is old:
                        namespace[key] = new
        return real


class _DeferredInspect(_Deferred):
    """Stands for ``inspect``: three predicates of its own (see the module's text), any
    other name the real module's."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.iscoroutinefunction = self._flagged(CO_COROUTINE, "iscoroutinefunction")
        self.isasyncgenfunction = self._flagged(CO_ASYNC_GENERATOR, "isasyncgenfunction")
        self.isgeneratorfunction = self._flagged(CO_GENERATOR, "isgeneratorfunction")

    def _flagged(self, flag: int, name: str) -> Callable[[object], bool]:
        def predicate(obj: object) -> bool:
            flags = code_flags(obj)
            if flags is None:
                answer: bool = getattr(real_module(self), name)(obj)
                return answer
            return bool(flags & flag)

        predicate.__name__ = predicate.__qualname__ = name
        return predicate


class _DeferredLogging(_Deferred):
    """Stands for ``logging``: ``getLogger`` gives a stand-in logger (asyncio's and
    concurrent.futures' are got as they are imported)."""

    DEBUG = 10  # (asyncio.futures reads it as it is imported; the same in every 3.x)

    def getLogger(self, name: str | None = None) -> Any:  # (logging's name)
        return _DeferredLogger(self, name)


class _DeferredPlatform(_Deferred):
    """Stands for ``platform``: ``system()`` answered as platform answers it on a POSIX
    system (the kernel's name, from ``uname``); any other name the real module's."""

    def system(self) -> str:
        name = os.uname().sysname if os.name == "posix" else ""
        if not name or name in ("unknown", "Microsoft", "Windows"):  # (platform's odd cases)
            return str(real_module(self).system())
        return name


class _DeferredLogger:
    """Stands for ``logging.getLogger(name)``: any attribute read is the real logger's,
    which then replaces this one wherever a module holds it. ``debug`` drops its record
    while the real module is not imported: nothing can have set a handler or a level then,
    and the logger, as the real one would, has the root's WARNING (every event loop made
    logs its selector at debug level)."""

    def __init__(self, module: _DeferredLogging, name: str | None) -> None:
        self._module = module
        self._name = name

    def debug(self, *args: Any, **kwargs: Any) -> None:
        loaded = sys.modules.get("logging")
        if loaded is None or isinstance(loaded, _Deferred):
            return
        self._real().debug(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real(), attr)

    def _real(self) -> Any:
        """The real logger, put in this one's place in every module that holds it."""
        real = real_module(self._module).getLogger(self._name)
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if isinstance(namespace, dict):
                for key, value in list(namespace.items()):
                    if value is self:
                        namespace[key] = real
        return real
