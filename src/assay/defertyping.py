"""msgspec without :mod:`typing_extensions` until something uses it.

``msgspec._utils`` imports ``typing_extensions`` when msgspec is imported, for two things:
``Required``/``NotRequired`` (on Python 3.11+ the very objects of :mod:`typing`, which
``typing_extensions`` re-exports) and its ``get_type_hints``, called only when msgspec
reads a class's annotations (a ``Struct`` or ``TypedDict`` it encodes, decodes or
describes). Importing it builds some hundred classes and functions: 2 ms of a lone case's
start, for a module that path never calls. :func:`import_msgspec` imports msgspec as if
``typing_extensions`` were not installed (and without compiling the forward reference
it makes to probe :class:`typing.ForwardRef`), then gives ``msgspec._utils`` a stand-in for
``get_type_hints`` that imports the real one at its first call and puts it in its place:
what msgspec calls is what it called before.

msgspec also imports ``msgspec.inspect`` (the types' descriptions, some forty classes) and,
through ``msgspec.json``, ``msgspec._json_schema`` (the JSON schemas built from them): 6 M
instructions before a lone case starts (2 %), for what assay never asks. Each is left out
the same way: msgspec gets a stand-in (:class:`assay.deferinspect.DeferredNames`) whose
first name read imports the real module, puts it in the stand-in's place and answers from
it; ``msgspec.json.schema`` and ``schema_components`` are functions that do so at their
first call (and put the real ones in ``msgspec.json``).
"""

from __future__ import annotations

import importlib
import sys
import threading
import typing
from typing import Any

from assay.deferinspect import DeferredNames

# msgspec's submodules it imports and assay does not use; for each, the names another of
# msgspec's modules takes from it as it is imported (functions that import it when called).
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "msgspec.inspect": (),
    "msgspec._json_schema": ("schema", "schema_components"),
}


def import_msgspec() -> None:
    """Import msgspec, leaving ``typing_extensions`` out until msgspec reads annotations,
    and ``msgspec.inspect`` and ``msgspec._json_schema`` until something uses them.
    A plain ``import msgspec`` when either is already in, when another thread runs (it
    might import ``typing_extensions`` while this one has it marked as missing), or on a
    Python whose :mod:`typing` lacks ``Required`` (there ``typing_extensions``' own is
    another object)."""
    if (
        "msgspec" in sys.modules
        or "typing_extensions" in sys.modules
        or threading.active_count() > 1
        or not hasattr(typing, "NotRequired")
    ):
        import msgspec  # noqa: F401 - the plain way

        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # "not installed"
    real_forward_ref = typing.ForwardRef
    if "is_class" in real_forward_ref.__init__.__code__.co_varnames:
        typing.ForwardRef = _ProbedForwardRef  # type: ignore[misc]  # (its probe only)
    stand_ins = [
        DeferredNames(name, taken) for name, taken in _SUBMODULES.items() if name not in sys.modules
    ]
    for stand_in in stand_ins:
        sys.modules[stand_in.__name__] = stand_in
    try:
        importlib.import_module("msgspec")
    finally:
        typing.ForwardRef = real_forward_ref  # type: ignore[misc]
        if sys.modules.get("typing_extensions", ...) is None:
            del sys.modules["typing_extensions"]
        # From here on an import of one of them is the real module's (the stand-ins
        # msgspec holds still work).
        for stand_in in stand_ins:
            if sys.modules.get(stand_in.__name__) is stand_in:
                del sys.modules[stand_in.__name__]
    utils = sys.modules.get("msgspec._utils")
    if utils is not None and getattr(utils, "_get_type_hints", None) is typing.get_type_hints:
        utils._get_type_hints = _first_get_type_hints  # type: ignore[attr-defined]


class _ProbedForwardRef(typing.ForwardRef, _root=True):  # type: ignore[misc,call-arg]
    """:class:`typing.ForwardRef` while msgspec is imported. ``msgspec._utils`` makes one
    ``ForwardRef("Foo", is_class=True)`` to learn whether ``is_class`` is taken (it is: the
    swap is made only then), and throws it away; the real one compiles the text, and the
    first compile() of a process sets up the ast module's classes (some 9 M instructions
    before a lone case starts). That probe is not compiled; any other is the real one's."""

    __slots__ = ()

    def __init__(self, arg: Any, *args: Any, **kwargs: Any) -> None:
        if arg == "Foo" and not args and kwargs == {"is_class": True}:
            return  # the probe: thrown away unread
        super().__init__(arg, *args, **kwargs)


def _first_get_type_hints(*args: Any, **kwargs: Any) -> Any:
    """msgspec's ``get_type_hints`` the first time: the one it imports when msgspec is
    imported the plain way (``typing_extensions``', else ``typing``'s), from then on."""
    try:
        from typing_extensions import get_type_hints as real
    except Exception:  # (as msgspec._utils falls back: not installed, or broken)
        real = typing.get_type_hints
    utils = sys.modules.get("msgspec._utils")
    if utils is not None:
        utils._get_type_hints = real  # type: ignore[attr-defined]
    return real(*args, **kwargs)
