"""A test's ``sources`` that are not there, found when the test file is loaded: else each
of its cases failed at setup, one after the other, with the same message."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from assay.define.field_checks import check_opt_strs
from assay.define.params import Parameter


def missing_sources(cls: type, base: Path, setup_hooks: Iterable[Callable[..., Any]]) -> list[str]:
    """``sources`` of the class (relative to ``base``, its file's directory) that do not
    exist, each with the entry beside it whose name is close. Only what the class says as
    it is: not a source with ``{...}`` in it (a case's own), nor when code of the test's
    may set the sources or make them before setup (its ``__init__``, a ``before("setup")``
    hook: ``setup_hooks``)."""
    value = getattr(cls, "sources", None)
    if value is None or isinstance(value, Parameter) or check_opt_strs(value):
        return []  # (a wrong type: a field problem, said already)
    if cls.__init__ is not object.__init__ or any(  # type: ignore[misc]
        not getattr(h, "keeps_fields_valid", False) for h in setup_hooks
    ):
        return []
    problems = []
    for source in [value] if isinstance(value, str) else value:
        if not isinstance(source, str) or not source or "{" in source:
            continue
        path = Path(source) if os.path.isabs(source) else base / source
        if not os.path.lexists(path):
            problems.append(f"sources: {source!r} not found (looked for {path}){resembling(path)}")
    return problems


def resembling(path: Path) -> str:
    """``; did you mean 'NAME'?`` for an entry beside ``path`` whose name is close."""
    try:
        names = os.listdir(path.parent)
    except (OSError, ValueError):
        return ""
    from difflib import get_close_matches  # lazy: a missing source only

    close = get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
