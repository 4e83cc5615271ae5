"""Find test files and import them, one file's failure never stopping the others."""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

import msgspec
from msgspec import field

from assay import digests, guard, terminal
from assay.define import reffile
from assay.define.definition import variant_names
from assay.define.test import Test
from assay.errors import UsageError
from assay.files import display_path
from assay.validation import Invalid, load_toml, read_utf8, source_problem

SUITE_SUFFIX = ".suite.toml"

_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", ".venv", "build", "dist"}


class LoadProblem(msgspec.Struct, frozen=True):
    """A file that failed to import, or a test class that is malformed."""

    file: str
    line: int | None
    message: str
    test: str | None = None

    @property
    def location(self) -> str:
        file = display_path(self.file)
        return f"{file}:{self.line}" if self.line else file

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class Loaded(msgspec.Struct):
    """The tests found in a set of paths, and what could not be loaded."""

    tests: list[type[Test]] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # said once, the run goes on

    def by_name(self) -> dict[str, type[Test]]:
        return {t.__name__: t for t in self.tests}


def find_files(paths: Sequence[str], references: list[Path] | None = None) -> list[Path]:
    """Test files under ``paths``: given files as they are, ``*.py`` files found in directories.

    In directories, hidden and tool directories are skipped, and so are Python
    files that never mention ``assay`` (helpers, setup scripts): importing them
    could have side effects and cannot define tests. The references files found in
    directories are added to ``references``.
    """
    found_refs: list[Path] = [] if references is None else references
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file or directory")
        if not path.is_dir():  # a file, or a FIFO or device given by name: load reports it
            candidates: Iterable[Path] = [path]
        else:
            candidates = sorted(_walk(path, found_refs))
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(candidate)
    return files


def _walk(
    root: Path, references: list[Path], cases: Sequence[tuple[str, ...]] = ()
) -> Iterable[Path]:
    # Plain strings and os.scandir (the directory's own entry types, no stat per entry). A
    # suite file's case directories hold inputs and expected outputs, not test files: they
    # are not walked (a 200-case suite's 400 directories were listed and joined as Paths).
    # ``cases``: the parts of ``suite.cases`` globs still to match below ``root``.
    top = str(root)
    with os.scandir(top) as listing:
        entries = sorted((e.name, _is_dir(e)) for e in listing)
    pending = list(cases)
    for name, folder in entries:
        if not folder and name.endswith(SUITE_SUFFIX):
            pending.extend(_case_globs(os.path.join(top, name)))
    for name, folder in entries:
        if name.startswith(".") or name in _SKIP_DIRS:
            continue
        if folder:
            below = [p[1:] for p in pending if fnmatch.fnmatchcase(name, p[0])]
            if () in below:  # a case directory of a suite file here or above
                continue
            yield from _walk(root / name, references, below)
        elif name.endswith(reffile.SUFFIX):
            references.append(root / name)
        elif _is_test_file(root / name):
            yield root / name


def _case_globs(suite: str) -> list[tuple[str, ...]]:
    """The parts of the suite file's ``suite.cases`` globs of case directories, for globs
    the walk can follow name by name (relative, no ``**``, ``.`` or ``..``); none for a
    suite of pairs (its cases are files) or one that cannot be read: compiling it says why."""
    from assay.define.suite_pairs import is_pairs  # (lazy: suite files only)

    try:
        # load_toml, as the suite's compile reads it: a hostile file (arrays nested past the
        # parser's depth, a key of 100,000 dots that takes tomllib seconds to minutes) is
        # refused at once, and its compile says why.
        suite_table = load_toml(read_utf8(Path(suite))).get("suite")
    except (OSError, Invalid, MemoryError):
        return []
    if not isinstance(suite_table, dict):
        return []
    given = suite_table.get("cases")
    expected = suite_table.get("expected", "expected")
    if not isinstance(expected, str) or is_pairs(expected):  # (its cases are files)
        return []
    patterns = [given] if isinstance(given, str) else given if isinstance(given, list) else []
    out = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern or os.path.isabs(pattern):
            continue
        parts = tuple(p for p in pattern.split("/") if p not in ("", "."))  # as pathlib does
        if parts and not any(p == ".." or "**" in p for p in parts):
            out.append(parts)
    return out


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """``Path.is_dir`` of a listed entry (links followed; False if it cannot be looked at)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _stray_references(references: list[Path], files: list[Path]) -> list[str]:
    """A warning for each references file that no test file found has beside it: it is
    never read, so a misspelt name would silently leave its tests unchecked."""
    used = {reffile.path_for(f).resolve() for f in files}
    out = []
    for path in references:
        if path.resolve() in used:
            continue
        stem = terminal.line(path.name[: -len(reffile.SUFFIX)])
        where = terminal.line(display_path(path))
        out.append(
            f"{where} is ignored: there is no test file {stem}.py or suite file "
            f"{stem}{SUITE_SUFFIX} beside it that assay loads; rename it after the file whose "
            f"tests it holds (test_x.py keeps test_x{reffile.SUFFIX}) or move it next to that file"
        )
    return out


def _is_test_file(path: Path) -> bool:
    if path.name.endswith(SUITE_SUFFIX):
        return True
    return path.suffix == ".py" and path.name != "__init__.py" and _mentions_assay(path)


def _mentions_assay(path: Path) -> bool:
    try:
        if source_problem(path) is not None:
            return True  # load reports it (a FIFO is refused there, never waited on)
        return b"assay" in path.read_bytes()  # (a race with a swap aside: a file, not huge)
    except OSError:
        return True  # let the import report the problem


def _text_path(path: Path, problems: list[LoadProblem]) -> bool:
    """Whether the test file's path is UTF-8 text; else a problem naming it (a directory
    on the way with a name in another encoding): its module name, test names and reports
    are made from it, and a lone surrogate, as Python holds such a byte, ended the run."""
    try:
        str(path.absolute()).encode()
    except UnicodeEncodeError:
        problems.append(
            LoadProblem(
                str(path),
                None,
                "its path is not UTF-8 text (the bytes shown as \\xHH are not), which "
                "test names, reports and the results database are; rename it",
            )
        )
        return False
    return True


def load(paths: Sequence[str]) -> Loaded:
    """Import every test file under ``paths`` and collect its test classes."""
    loaded = Loaded()
    references: list[Path] = []
    loaded.files = find_files(paths, references)
    loaded.warnings = _stray_references(references, loaded.files)
    defined_at: dict[str, str] = {}
    for path in loaded.files:
        if not _text_path(path, loaded.problems):
            continue
        if path.name.endswith(SUITE_SUFFIX):
            classes = _suite_classes(path.absolute(), loaded.problems)
        elif path.suffix == ".py":
            if not _readable_source(path, loaded.problems):
                continue
            module = _import(path.absolute(), loaded.problems)
            if module is None:
                continue
            classes = _test_classes(module)
        else:
            loaded.problems.append(
                LoadProblem(
                    str(path),
                    None,
                    f"not a test file; give .py test files, {SUITE_SUFFIX} suite files or "
                    "directories",
                )
            )
            continue
        classes = _with_kept_references(path, classes, loaded.problems)
        for cls in classes:
            definition = cls._assay
            if definition.errors:
                details = "\n".join(f"  - {e}" for e in definition.errors)
                loaded.problems.append(
                    LoadProblem(
                        definition.file or str(path),
                        definition.line,
                        f"test {cls.__name__} is malformed:\n{details}",
                        cls.__name__,
                    )
                )
                continue
            if cls.__name__ in defined_at:
                loaded.problems.append(
                    LoadProblem(
                        str(path),
                        definition.line,
                        f"test name {cls.__name__!r} is already defined at "
                        f"{defined_at[cls.__name__]}; test names must be unique, rename one",
                        cls.__name__,
                    )
                )
                continue
            defined_at[cls.__name__] = f"{path}:{definition.line}"
            loaded.tests.append(cls)
    return loaded


def _with_kept_references(
    path: Path, classes: list[type[Test]], problems: list[LoadProblem]
) -> list[type[Test]]:
    """Attach the references kept beside ``path`` (``NAME.references.toml``) to its tests;
    a file with problems is reported and its tests are not run (their verdicts would be
    against references that are not the ones written)."""
    kept_path = reffile.path_for(path)
    if not classes or not kept_path.exists():  # (a FIFO or device there is a problem)
        return classes
    metrics = {c.__name__: {n: m.unit for n, m in c._assay.metrics.items()} for c in classes}
    variants = {name: c.__name__ for c in classes for name in variant_names(c)}
    kept, wrong = reffile.read(kept_path, metrics, variants)
    for line, message in wrong:
        problems.append(LoadProblem(str(kept_path), line, message))
    if wrong:
        return []
    for cls in classes:
        cls._assay.kept = kept
    return classes


def _readable_source(path: Path, problems: list[LoadProblem]) -> bool:
    """Whether the test file ``path`` is a regular file of at most ``MAX_SOURCE_BYTES``
    (importing a FIFO would wait for a writer forever, a link to ``/dev/zero`` read without
    end); else its problem is added. (Read once more by the import: a file swapped for a
    FIFO between the two is a race with whoever swaps it, not a file of the user's.)"""
    try:
        problem = source_problem(path)
    except OSError:
        return True  # the import says what it is (no such file, no permission)
    if problem is not None:
        problems.append(LoadProblem(str(path), None, problem))
    return problem is None


def _module_name(path: Path) -> str:
    digest = digests.blake2b(str(path.resolve()).encode(), digest_size=4).hexdigest()
    stem = re.sub(r"\W", "_", path.stem)
    return f"assay_tests_{stem}_{digest}"


def _import(path: Path, problems: list[LoadProblem]) -> ModuleType | None:
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        problems.append(LoadProblem(str(path), None, "cannot be imported as a Python file"))
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _checked_bytecode(path)
    folder = str(path.resolve().parent)
    before = set(sys.modules)
    sys.path.insert(0, folder)  # lets a test file import helpers that sit beside it
    try:
        with guard.running():
            spec.loader.exec_module(module)
    except guard.Interrupted:
        del sys.modules[name]
        raise
    except BaseException as exc:  # test code: SystemExit, KeyboardInterrupt... included
        del sys.modules[name]
        problems.append(_import_problem(path, exc))
        return None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
        _forget_helpers(before, folder)
    return module


# The flags of a bytecode file that is checked against its source's hash (PEP 552).
_CHECKED_HASH = 0b11


def _checked_bytecode(path: Path) -> None:
    """Make the bytecode file Python keeps for the test file ``path`` one that is checked
    against the source's hash (PEP 552), unless it is already: Python's default checks the
    source's mtime in whole seconds and its size, so a test file rewritten within the
    second it was imported, to the same size (a generated test, a checkout, an edit by a
    script), ran its old code. Once it is, the import keeps it so (a changed source is
    compiled, and kept as checked, by the import itself); checking costs a hash of the
    source per import. A source that does not compile is left to the import to report."""
    if sys.dont_write_bytecode:
        return
    cached = importlib.util.cache_from_source(str(path))
    try:
        with open(cached, "rb") as fh:
            head = fh.read(8)
        if len(head) == 8 and int.from_bytes(head[4:8], "little") == _CHECKED_HASH:
            return
    except OSError:
        pass
    import py_compile  # (once per test file, the first time it is imported)

    try:
        py_compile.compile(
            str(path),
            cfile=cached,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except (py_compile.PyCompileError, OSError, ValueError, SyntaxError):
        pass


def _forget_helpers(before: set[str], folder: str) -> None:
    """Unregister helper modules imported from ``folder``, so that a helper of the same name
    beside another test file is that file's own, not this one's (the test module keeps its
    reference to the helper it imported)."""
    prefix = folder + os.sep
    for mod_name in set(sys.modules) - before:
        file = getattr(sys.modules[mod_name], "__file__", None) or ""
        if file.startswith(prefix) and not mod_name.startswith("assay_tests_"):
            del sys.modules[mod_name]


def _import_problem(path: Path, exc: BaseException) -> LoadProblem:
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        return LoadProblem(str(path), exc.lineno, f"SyntaxError: {exc.msg}")
    line = None
    resolved = path.resolve()
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == resolved:
            line = frame.lineno
    message = guard.exception_text(exc)
    if isinstance(exc, SystemExit):
        code = guard.safe_repr(exc.code)
        message = f"calls sys.exit({code}) at import time; test files must not exit"
    return LoadProblem(str(path), line, f"failed to import: {message}")


def _suite_classes(path: Path, problems: list[LoadProblem]) -> list[type[Test]]:
    from assay.define.suite import compile_suite  # lazy: start-up time (9 ms; suite files only)

    classes, suite_problems = compile_suite(path)
    for p in suite_problems:
        where = f"{p.key}: " if p.key else ""
        problems.append(LoadProblem(str(p.file), p.line, f"{where}{p.message}"))
    return classes


def _test_classes(module: ModuleType) -> list[type[Test]]:
    found: list[type[Test]] = []
    for value in vars(module).values():
        if value in found:  # an alias (Alias = Original) is the same test
            continue
        if (
            isinstance(value, type)
            and issubclass(value, Test)
            and value is not Test
            and value.__module__ == module.__name__
            and not value._assay.abstract
        ):
            found.append(value)
    found.sort(key=lambda c: c._assay.line or 0)
    return found
