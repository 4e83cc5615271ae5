"""A job's environment given as changes to this process's own."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping


class EnvChanges(Mapping[str, str]):
    """A job's environment as this process's own with a few variables changed (a value of
    None removes one). As a mapping it is the whole environment, as of when it is read;
    the local transport merges only :attr:`changes` into its encoded copy of its own
    (:meth:`assay.transports.spawn.OwnEnvironment.changed`), where a whole mapping costs
    Python steps per variable, per job."""

    def __init__(self, changes: Mapping[str, str | None]) -> None:
        self.changes: dict[str, str | None] = dict(changes)

    def full(self) -> dict[str, str]:
        """The whole environment: this process's, changed (in the same order)."""
        merged = dict(os.environ)
        for name, value in self.changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged

    def __getitem__(self, name: str) -> str:
        return self.full()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.full())

    def __len__(self) -> int:
        return len(self.full())
