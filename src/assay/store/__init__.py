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

# Imported when first used (PEP 562): a module that needs one part of the store (its
# errors, its trees) does not pay for the rest; a local run without sources needs none.
_WHERE = {
    "GcReport": "assay.store.maintenance",
    "Corrupt": "assay.store.objects",
    "StoreError": "assay.store.objects",
    "STORE_ENV": "assay.store.store",
    "PutResult": "assay.store.store",
    "Store": "assay.store.store",
    "default_root": "assay.store.store",
    "VerifyReport": "assay.store.verify",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


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
