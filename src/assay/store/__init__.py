"""The artifact store: content-addressed builds and reference data, reused by name.

``Store(root)`` (:mod:`assay.store.store`) is the one entry point: put directories and
archives under names, resolve references, check trees out (once ever) or stage them into
case directories by hard links, collect garbage and verify. See docs/store.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.store.maintenance import GcReport
    from assay.store.objects import Corrupt, StoreError
    from assay.store.store import STORE_ENV, PutResult, Store, default_root
    from assay.store.verify import VerifyReport

# Loaded on first use, not with the package: assay.archives uses the tree check of
# assay.store.agent, which must import without the store (that imports assay.archives).
_WHERE = {
    "STORE_ENV": "store",
    "Corrupt": "objects",
    "GcReport": "maintenance",
    "PutResult": "store",
    "Store": "store",
    "StoreError": "objects",
    "VerifyReport": "verify",
    "default_root": "store",
}

__all__ = [
    "STORE_ENV",
    "Corrupt",
    "GcReport",
    "PutResult",
    "Store",
    "StoreError",
    "VerifyReport",
    "default_root",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
