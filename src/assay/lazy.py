"""Names a package or module exports but imports only on first use (PEP 562), so that its
submodules can import it without a cycle and ``import`` of it stays cheap."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(module: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module`` that imports each name of ``where`` from the
    module given for it, once (the value is then kept as the module's own attribute)."""

    def getattr_(name: str) -> Any:
        source = where.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[module], name, value)
        return value

    return getattr_
