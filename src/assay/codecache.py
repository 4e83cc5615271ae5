"""The code of the methods :mod:`dataclasses` writes for each class, compiled once and kept
between runs, as a module's bytecode is.

Python 3.11's dataclasses writes each class's ``__init__``, ``__repr__``, ``__eq__`` (and,
frozen, ``__setattr__``, ``__delattr__``, ``__hash__``) as source text and compiles it with
``exec``. ``assay run`` defines some fifty such classes before its first case starts:
parsing and compiling those texts was a quarter of the instructions spent before the
first process (150 M of 580 M, under callgrind). The texts are the same from run to run,
so :func:`kept_dataclass_code` keeps their compiled code in a file next to assay's own
bytecode, and a later run executes the kept code of the same text instead of compiling it.

It applies only while its ``with`` lasts (:mod:`assay.entry`: the whole command; once the
command's own imports are done, only to the classes of assay's own modules, such as the
results database's, imported while the first case runs), never to the tests' code, and it
changes nothing but where the code comes from: the code
of a text is what ``exec`` of that text makes (the same file name, no inherited
``__future__`` flags). A file that cannot be read (missing, damaged, another Python's) is
ignored; one that cannot be written is left as it is; none is written when Python writes
no bytecode (``PYTHONDONTWRITEBYTECODE``).
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any, Generic, TypeVar

# Past this many kept texts (old versions of assay's classes pile up in a checkout), the
# file keeps only the texts of the last run that compiled one.
MAX_KEPT = 2000

K = TypeVar("K")
V = TypeVar("V")


class KeptFile(Generic[K, V]):
    """A file of compiled things kept between runs, keyed by what they were compiled from:
    those found in it (``hits``), those compiled (``compiled``), whether it was written.
    Subclasses say how the file is read (``_known_now``) and what it holds (``_payload``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.hits = 0
        self.compiled = 0
        self.written = False
        self._known: dict[K, V] | None = None
        self._used: dict[K, V] = {}

    def _payload(self, kept: dict[K, V]) -> Any:
        return kept

    def save(self) -> None:
        """Write the file if this block compiled something (and bytecode is written)."""
        if not self.compiled or sys.dont_write_bytecode:
            return
        kept = {**(self._known or {}), **self._used}
        if len(kept) > MAX_KEPT:  # old entries pile up: keep only this run's
            kept = self._used
        self.written = write_kept(self.path, marshal.dumps(self._payload(kept)))


class Kept(KeptFile[str, CodeType]):
    """What a :func:`kept_dataclass_code` block did: texts found in the file (``hits``),
    texts compiled (``compiled``) and whether it wrote the file. (Not a dataclass: its own
    methods would be compiled, uncached.)"""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        # Set: only the classes of the modules of this package (and its subpackages) are
        # kept, any other's methods compiled as without the block (the tests' code).
        self.only: str | None = None

    def code(self, source: str) -> CodeType:
        """The compiled code of ``source``: the kept one, else compiled now."""
        code = self._known_now().get(source)
        if code is None:
            # dont_inherit: exec of a string inherits the caller's __future__ flags, and the
            # caller is dataclasses (none), not this module (annotations).
            code = compile(source, "<string>", "exec", dont_inherit=True)
            self.compiled += 1
        else:
            self.hits += 1
        self._used[source] = code
        return code

    def keeps(self, globals_: Any) -> bool:
        """Whether the methods of a class of the module of ``globals_`` (the module's
        namespace, which dataclasses executes the texts in) are kept."""
        if self.only is None:
            return True
        name = globals_.get("__name__") if isinstance(globals_, dict) else None
        return isinstance(name, str) and (name == self.only or name.startswith(f"{self.only}."))

    def _known_now(self) -> dict[str, CodeType]:
        if self._known is None:
            self._known = _read(self.path)
        return self._known


def default_path() -> str:
    """The file next to assay's own bytecode (``__pycache__``, or ``PYTHONPYCACHEPREFIX``)."""
    from importlib.util import cache_from_source

    directory = os.path.dirname(cache_from_source(__file__))
    return os.path.join(directory, f"dataclass-code.{sys.implementation.cache_tag}.marshal")


@contextmanager
def kept_dataclass_code(path: str | None = None) -> Iterator[Kept]:
    """While it lasts, classes made by :mod:`dataclasses` get their methods' code from the
    file at ``path`` (default: :func:`default_path`), compiled and kept there on a miss."""
    import dataclasses

    kept = Kept(default_path() if path is None else path)
    if "exec" in vars(dataclasses):  # someone else's block (nested): theirs stays
        yield kept
        return

    def kept_exec(source: Any, globals_: Any = None, locals_: Any = None, /) -> None:
        if isinstance(source, str):
            if kept.keeps(globals_):
                source = kept.code(source)
            else:  # as dataclasses' own exec compiles it (not with this module's futures)
                source = compile(source, "<string>", "exec", dont_inherit=True)
        builtins.exec(source, globals_, locals_)  # noqa: S102 - dataclasses' own exec

    dataclasses.exec = kept_exec  # type: ignore[attr-defined]  # (the module's global)
    try:
        yield kept
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]  # the builtin again
        kept.save()


def _read(path: str) -> dict[str, CodeType]:
    """The kept code at ``path`` (see :func:`read_trusted`), the entries of the right shape."""
    data = read_trusted(path)
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, CodeType)}


def read_trusted(path: str) -> object:
    """What the marshal file at ``path`` holds (None if it cannot be read): trusted as the
    bytecode next to it is, and only if no one but its owner (this user, or root) can have
    written it."""
    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            if info.st_uid not in (os.getuid(), 0) or info.st_mode & 0o022:
                return None
            return marshal.loads(file.read())  # noqa: S302 - as trusted as a .pyc (above)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def write_kept(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole or not at all (another run may read it meanwhile);
    0644 whatever the umask allows beyond it, as :func:`read_trusted` trusts no
    group-writable file."""
    from assay.files import write_atomic

    try:
        write_atomic(path, data, mode=0o644)
    except OSError:
        return False
    return True
