"""The artifact store: content-addressed builds and reference data, reused by name.

``Store(root)`` (:mod:`assay.store.store`) is the one entry point: put directories and
archives under names, resolve references, check trees out (once ever) or stage them into
case directories by hard links, collect garbage and verify. See docs/store.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.lazy import exports

if TYPE_CHECKING:
    from assay.store.maintenance import GcReport
    from assay.store.objects import Corrupt, StoreError
    from assay.store.store import STORE_ENV, PutResult, Store, default_root
    from assay.store.verify import VerifyReport

# Loaded on first use, not with the package: assay.archives uses the tree check of
# assay.store.agent, which must import without the store (that imports assay.archives).
__getattr__ = exports(
    __name__,
    {
        "STORE_ENV": "assay.store.store",
        "Corrupt": "assay.store.objects",
        "GcReport": "assay.store.maintenance",
        "PutResult": "assay.store.store",
        "Store": "assay.store.store",
        "StoreError": "assay.store.objects",
        "VerifyReport": "assay.store.verify",
        "default_root": "assay.store.store",
    },
)

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
