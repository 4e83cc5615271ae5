"""The compiled form of the regular expressions compiled at start-up, kept between runs as a
module's bytecode is.

``assay run`` compiles some fifty patterns before its first case starts (its own config
and name checks, and those of the standard library modules it imports: json, platform,
logging, string, ...). :mod:`re` parses each one and turns it into the code of its matching
engine in pure Python every run, though the result is the same from run to run: some 7%
of the instructions spent before a lone case starts. While :func:`kept_regex_code` lasts,
``re``'s compiler looks the pattern up in a file next to assay's own bytecode first (the
engine's code, flags and groups of each pattern with its flags) and builds the pattern
object from what it finds; a pattern not found is compiled as always and kept.

The same trust rules as :mod:`assay.codecache`: the file is read only if no one but its
owner can have written it; one that cannot be read (missing, damaged, written by another
Python or another version of the engine) is ignored; it is written whole or not at all,
and not at all when Python writes no bytecode. An entry is found only by its pattern and
flags, and made by the same engine (its version is in the file); the engine validates the
code it is given, and an entry it refuses is compiled anew.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # (no stubs: the engine)
import os
import re
import re._compiler as sre_compiler  # type: ignore[import-not-found]
import re._parser as sre_parser  # type: ignore[import-not-found]
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from assay.codecache import KeptFile, read_trusted

# What an entry must have been made by: the engine's code changes between its versions.
_ENGINE = (_sre.MAGIC, _sre.CODESIZE, sys.hexversion)

# The parts of re's compiler that :func:`_compile` runs in its order (3.11 to 3.13).
_INTERNALS = all(
    callable(getattr(module, name, None))
    for module, name in ((sre_parser, "parse"), (sre_compiler, "_code"), (_sre, "compile"))
)

# A kept entry: the flags, the engine's code, the number of groups, their names.
Entry = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]
Key = tuple[str | bytes, int]


class KeptRegex(KeptFile[Key, Entry]):
    """What a :func:`kept_regex_code` block did: patterns found in the file (``hits``),
    patterns compiled (``compiled``) and whether it wrote the file."""

    def _known_now(self) -> dict[Key, Entry]:
        if self._known is None:
            self._known = _read(self.path)
        return self._known

    def _payload(self, kept: dict[Key, Entry]) -> Any:
        return (_ENGINE, kept)

    def compile(self, real: Callable[..., Any], pattern: Any, flags: int) -> Any:
        """``re._compiler.compile(pattern, flags)``, from the file when it holds it."""
        if type(pattern) not in (str, bytes) or flags & sre_compiler.SRE_FLAG_DEBUG:
            # (a parsed pattern, a subclass marshal cannot keep, or one to print: as always)
            return real(pattern, flags)
        key = (pattern, int(flags))
        entry = self._known_now().get(key)
        if entry is not None:
            try:
                compiled = _sre.compile(pattern, *entry)
            except (TypeError, ValueError, RuntimeError, OverflowError):
                pass  # (code the engine refuses: compiled anew below)
            else:
                self.hits += 1
                self._used[key] = entry
                return compiled
        compiled, self._used[key] = _compile(pattern, key[1])
        self.compiled += 1
        return compiled


def _compile(pattern: str | bytes, flags: int) -> tuple[re.Pattern[Any], Entry]:
    """The pattern compiled as ``re._compiler.compile`` compiles it (its steps, in its
    order), and the entry that makes it again: the engine's code cannot be read back from
    the pattern object."""
    parsed = sre_parser.parse(pattern, flags)
    code = sre_compiler._code(parsed, flags)
    groupindex = parsed.state.groupdict
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    entry: Entry = (
        int(flags | parsed.state.flags),
        [int(op) for op in code],  # (the opcodes are an int subclass marshal cannot keep)
        parsed.state.groups - 1,
        dict(groupindex),
        tuple(indexgroup),
    )
    return _sre.compile(pattern, *entry), entry


def default_path() -> str:
    """The file next to assay's own bytecode (``__pycache__``, or ``PYTHONPYCACHEPREFIX``)."""
    from importlib.util import cache_from_source

    directory = os.path.dirname(cache_from_source(__file__))
    return os.path.join(directory, f"regex-code.{sys.implementation.cache_tag}.marshal")


@contextmanager
def kept_regex_code(path: str | None = None) -> Iterator[KeptRegex]:
    """While it lasts, patterns compiled by :mod:`re` are made from the file at ``path``
    (default: :func:`default_path`), compiled and kept there on a miss."""
    kept = KeptRegex(default_path() if path is None else path)
    real = sre_compiler.compile
    if getattr(real, "_kept_regex", False) or not _INTERNALS:
        # Someone else's block (nested): theirs stays. Or a Python whose compiler is not
        # made of the parts this one copies: its own, as always.
        yield kept
        return

    def kept_compile(pattern: Any, flags: int = 0) -> Any:
        return kept.compile(real, pattern, flags)

    kept_compile._kept_regex = True  # type: ignore[attr-defined]
    sre_compiler.compile = kept_compile
    try:
        yield kept
    finally:
        sre_compiler.compile = real
        kept.save()


def _read(path: str) -> dict[Key, Entry]:
    """The kept entries at ``path`` made by this engine (see :func:`read_trusted`)."""
    data = read_trusted(path)
    if not (isinstance(data, tuple) and len(data) == 2 and data[0] == _ENGINE):
        return {}
    entries = data[1]
    return entries if isinstance(entries, dict) else {}
