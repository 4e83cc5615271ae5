"""The commands of :mod:`assay.cli`, a module per group: runs, results, the store."""
