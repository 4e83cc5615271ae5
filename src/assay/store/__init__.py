"""The artifact store: content-addressed builds and reference data, reused by name.

``Store(root)`` (:mod:`assay.store.store`) is the one entry point: put directories and
archives under names, resolve references, check trees out (once ever) or stage them into
case directories by hard links, collect garbage and verify. See docs/store.md.
"""

from __future__ import annotations

from assay.store.maintenance import GcReport
from assay.store.objects import Corrupt, StoreError
from assay.store.store import STORE_ENV, PutResult, Store, default_root
from assay.store.verify import VerifyReport

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
