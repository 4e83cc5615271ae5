"""Allow ``python -m assay``."""

from assay.entry import console

console()
