"""Why a failed run could not write a file: it is one of the case's staged inputs, which
are read-only (links into the store, or read-only copies), and how to declare it writable.

A program that writes over one of its inputs (a stale ``out.txt`` left in a case directory,
a source file a build edits in place) only says "Permission denied"; this names the input
and the fix."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from assay.files import open_regular

# The errors a write to a read-only file gives: coreutils, shells and most C programs
# ("Permission denied"), Python ("[Errno 13] Permission denied"), Fortran runtimes
# ("permission denied", any case).
_DENIED = re.compile(r"permission denied|EACCES", re.IGNORECASE)
# A path-like word of such a line (quotes, colons and brackets around it are not part of it).
# (Typographic quotes, as coreutils prints in a UTF-8 locale, are written as escapes.)
_WORD = re.compile("[^\\s'\"`\u2018\u2019\u201c\u201d:,()\\[\\]<>]+")
_TAIL = 64 * 1024  # only the end of a long output is searched (where the error is)
_MAX_NAMED = 5


def denied_inputs(
    texts: Iterable[str], inputs: Sequence[str], writable: Sequence[str]
) -> list[str]:
    """The staged inputs (stage-relative paths) that a "Permission denied" line of
    ``texts`` names, leaving out those ``writable`` already gives private copies and
    assay's own files (``.assay-*``: an artifact's copy)."""
    if not inputs:
        return []
    lines = [line for text in texts for line in text[-_TAIL:].splitlines() if _DENIED.search(line)]
    if not lines:
        return []
    words = {w.removeprefix("./") for line in lines for w in _WORD.findall(line)}
    from assay.store.stage import matcher  # lazy: the store waits until used

    private = matcher(tuple(writable))
    found: list[str] = []
    for path in inputs:
        if path.startswith(".assay-") or private(path) or path in found:
            continue
        if path in words or any(w.endswith("/" + path) for w in words):
            found.append(path)
    return found


def tails(paths: Iterable[Path | str], dir_fd: int | None = None) -> list[str]:
    """The end of each file of ``paths`` that can be read (a build's output files): at most
    ``_TAIL`` bytes, of regular files only (a FIFO put there is never waited on).
    ``dir_fd``: the directory the ``paths`` are names in (the stage dir, opened)."""
    texts = []
    for path in paths:
        try:
            with open_regular(path, dir_fd) as f:  # (not through a link the job left there)
                f.seek(max(0, f.seek(0, os.SEEK_END) - _TAIL))
                texts.append(f.read(_TAIL).decode(errors="replace"))
        except (OSError, ValueError):
            continue
    return texts


def denied_hint(names: Sequence[str], suite: bool) -> str:
    """The sentence added to the failure's reason for the inputs ``names``."""
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMED])
    if len(names) > _MAX_NAMED:
        shown += f" and {len(names) - _MAX_NAMED} more"
    listed = ", ".join(f'"{n}"' for n in names[:_MAX_NAMED])
    where = "under [suite] in the suite file" if suite else "in the test"
    one = len(names) == 1
    return (
        f"{shown} {'is a staged input' if one else 'are staged inputs'}, read-only "
        "(a link into the artifact store, or a read-only copy), so the run could not write "
        f"over {'it' if one else 'them'}; declare {'it' if one else 'them'} "
        f"writable = [{listed}] {where} for a private, writable copy, or remove "
        f"{'it' if one else 'them'} from the inputs"
    )
