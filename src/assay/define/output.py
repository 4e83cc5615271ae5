"""What sanity and metric functions receive: the captured output of one case.

Plain Python, evaluated after the run: ``out.stdout``, ``out.file(path)``,
``out.expect(regex)``, ``out.extract(regex, float)``. Every failure raises
:class:`~assay.errors.SanityError` with a message that quotes the pattern and
names the file it looked in.
"""

from __future__ import annotations

import errno
import locale
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from assay.compare import beneath
from assay.compare.binary import not_a_file, read_whole
from assay.compare.confine import inside, refused
from assay.errors import SanityError

T = TypeVar("T")

Pattern = str | re.Pattern[str]


def _compile(pattern: Pattern, flags: int) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern, flags | re.MULTILINE)
    except re.error as exc:
        raise SanityError(f"invalid regular expression {pattern!r}: {exc}") from None


def _show(pattern: Pattern) -> str:
    """The pattern as the user wrote it: ``r'\\d+'`` stays ``r'\\d+'``, not ``r'\\\\d+'``."""
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if "\\" in text and "'" not in text and "\n" not in text and not text.endswith("\\"):
        return f"r'{text}'"
    return repr(text)


def _read_text(path: Path, fd: int | None = None) -> str:
    """``path.read_text(errors="replace")``, without a buffered text stream (its encoding
    lookup, isatty check and buffers): the file read whole at once, decoded, and its line
    ends made ``\\n`` as universal newlines make them: half the time, for every case's
    sanity. At most :data:`MAX_OUTPUT_BYTES`, of a regular file only (a FIFO or a link to
    ``/dev/zero`` is refused, never waited on nor read without end): else ValueError."""
    data = read_whole(str(path), fd=fd)  # (fd: the file as opened beneath its directory)
    # The encoding read_text uses: the locale's as it is now, or UTF-8 in UTF-8 mode.
    text = data.decode("utf-8" if sys.flags.utf8_mode else locale.getencoding(), "replace")
    del data  # (a large output: its bytes go before the copies below are made)
    if "\r" in text:  # one copy at a time, the old text let go before the next
        text = text.replace("\r\n", "\n")
        text = text.replace("\r", "\n")
    return text


_IGNORED = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _is_file(path: str) -> bool:
    """``Path(path).is_file()`` without making a Path (a dozen Python calls): False when
    there is nothing (or a link to nothing) there, and an error pathlib does not ignore
    (EACCES: a directory the job closed) raised as pathlib raises it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno not in _IGNORED:
            raise
        return False
    except ValueError:
        return False


def _kind(path: Path) -> str | None:
    try:
        return not_a_file(str(path))
    except OSError:
        return None


class Output:
    """The output of one run of a case, read lazily from its files.

    ``where`` arguments name what to search: ``"stdout"`` (default), ``"stderr"``,
    or a path relative to the stage directory.
    """

    def __init__(
        self,
        stage_dir: Path,
        stdout_path: Path,
        stderr_path: Path,
        exit_code: int | None,
        source_dir: Path | None = None,
    ) -> None:
        self.stage_dir = stage_dir
        self.exit_code = exit_code
        self.source_dir = source_dir or stage_dir
        self._paths = {"stdout": stdout_path, "stderr": stderr_path}
        self._cache: dict[str, str] = {}
        self.comparisons: list[dict[str, Any]] = []
        """The verdict of every :meth:`compare` call, in order (they go to the report)."""
        self.precomputed: dict[str, Path] = {}
        """Verdict files a job already wrote, by the spec they answer (compared in the job)."""
        self.notes: dict[str, str] = {}
        """What to add when a file is missing or a pattern is not found in it: the run was on
        a remote host, and this file stayed there or only its end came back."""
        self.not_outputs: list[str] = []
        """Files of the stage dir that are not outputs (assay's own, the inputs): left out of
        ``complete`` and of a comparison command's ``{actual}``."""
        self.stage_ident: tuple[int, int] | None = None
        """The (device, inode) of the stage dir the runner made: read only while the
        directory at ``stage_dir`` is still that one (not one a job put in its place)."""

    def compare(
        self,
        expected: str | Path,
        *,
        files: list[str] | None = None,
        rtol: float = 0.0,
        atol: float = 0.0,
        ignore: list[str] | None = None,
        **spec: Any,
    ) -> dict[str, Any]:
        """Compare the stage dir's outputs with the files in ``expected``.

        ``expected`` is a directory (or file) relative to the test's own directory;
        ``files`` are globs within it (default: every file). ``rtol``/``atol`` are number
        tolerances, ``ignore`` regexes removed from lines; any other key of the comparison
        engine's spec is accepted (``fields``, ``rules``, ``complete``, ``command``,
        ``max_differences``; see docs/suites.md). Returns the verdict; raises
        :class:`SanityError` with a one-line summary and the differences as details when
        the outputs differ.
        """
        # Lazy: start-up time (18 ms of `import assay`). From the module itself, not from
        # the package: a package's `from ... import` runs importlib's Python each call.
        from assay.compare.engine import compare as engine_compare

        root = expected if isinstance(expected, Path) else Path(expected)
        root = root if root.is_absolute() else self.source_dir / root
        full = comparison_spec(root, self.stage_dir, files, rtol, atol, ignore, **spec)
        full = with_not_outputs(full, self.not_outputs)
        verdict = self._precomputed(full)
        if verdict is None:
            fd = None  # (the engine opens the actual dir the spec names, if any)
            if full["actual"] == str(self.stage_dir):
                try:
                    fd = self._stage_fd("comparison", self.stage_dir)
                except FileNotFoundError:  # (each output: missing)
                    pass
            try:
                verdict = engine_compare(full, actual_fd=fd)
            finally:
                if fd is not None:
                    os.close(fd)
        verdict["expected"], verdict["actual"] = str(root), str(self.stage_dir)
        self.comparisons.append(verdict)
        if verdict["errors"]:
            raise SanityError("comparison: " + "; ".join(verdict["errors"]))
        if not verdict["ok"]:
            from assay.results.differences import describe_differences  # lazy: as the engine

            raise SanityError(verdict["summary"], describe_differences(verdict))
        return verdict

    def _precomputed(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        if not self.precomputed:  # (a local case: no job compared; no key to make)
            return None
        path = self.precomputed.get(spec_key(spec))
        if path is None:
            return None
        import json  # (here: no run needs it before its first case)

        try:  # (beneath the stage dir: a link the job left at its name is not followed out)
            verdict: dict[str, Any] = json.loads(
                _read_text(path, self._open("verdict", path)), object_hook=_storable_object
            )
        except (OSError, ValueError, SanityError):
            return None  # the job could not compare: compare here
        return verdict if isinstance(verdict, dict) else None

    def compared_files(self) -> list[str]:
        """Stage-relative paths of the actual files the comparisons looked at."""
        names: list[str] = []
        top = str(self.stage_dir)
        for verdict in self.comparisons:
            candidates = [e["file"] for e in verdict["files"]] + list(verdict["extra"])
            for name in candidates:
                if name != "(command)" and _is_file(os.path.join(top, name)):
                    names.append(name)
        return names

    @property
    def stdout(self) -> str:
        """Everything the run wrote to standard output."""
        return self._text("stdout")

    @property
    def stderr(self) -> str:
        """Everything the run wrote to standard error."""
        return self._text("stderr")

    def path(self, relpath: str) -> Path:
        """The absolute path of a file in the stage directory (it need not exist)."""
        return self.stage_dir / relpath

    def file(self, relpath: str) -> str:
        """The text of a file the run produced, relative to the stage directory."""
        return self._text(relpath)

    def exists(self, relpath: str) -> bool:
        """Whether the run produced ``relpath`` (relative to the stage directory)."""
        return (self.stage_dir / relpath).exists()

    def _where(self, where: str) -> tuple[str, Path]:
        if where in self._paths:
            return where, self._paths[where]
        return where, self.stage_dir / where

    def _text(self, where: str) -> str:
        cached = self._cache.get(where)
        if cached is not None:
            return cached
        label, path = self._where(where)
        try:
            text = _read_text(path, self._open(label, path))
        except FileNotFoundError:
            note = self.notes.get(where)
            if note is not None:
                raise SanityError(f"file {label!r} is not here: {note}") from None
            raise SanityError(f"file {label!r} was not produced (looked for {path})") from None
        except ValueError as exc:  # no regular file, or larger than MAX_OUTPUT_BYTES
            if _kind(path) == "directory":
                raise SanityError(f"{label!r} is a directory, not a file ({path})") from None
            raise SanityError(f"cannot read {label!r}: {exc}") from None
        self._cache[where] = text
        return text

    def _open(self, label: str, path: Path) -> int | None:
        """``path`` opened for reading when it lies in the stage dir (or beside the run's
        output files), walked beneath that directory (:mod:`assay.compare.beneath`): a
        symbolic link on the way that leads out is refused before anything out there is
        opened (the job made it, and this process may read what the job could not: a
        root run whose job dropped its capabilities), and no link swapped in between a
        look and the read can lead out. None: a path the test's code names outside the
        stage dir, its own choice, read by its name."""
        lexical = os.path.normpath(path)
        for root in (self.stage_dir, self._paths["stdout"].parent):
            top = os.path.normpath(root)
            if inside(lexical, top):  # (by name: the job's links are walked below)
                root_fd = self._stage_fd(f"cannot read {label!r}", root)
                try:
                    # Both normalised, one inside the other: the rest of the name is the
                    # relative path (os.path.relpath makes both absolute and compares
                    # their parts: a dozen Python steps per read).
                    rel = lexical[len(top.rstrip(os.sep)) + 1 :] if lexical != top else "."
                    return beneath.open_beneath(root_fd, rel, root=top)
                except beneath.LeadsOut as exc:
                    self._led_out(label, path, exc.real, top)
                finally:
                    os.close(root_fd)
        return None

    def _led_out(self, label: str, path: Path, real: str, top: str) -> NoReturn:
        """``path`` leads out to ``real``: refused, unread, as a read of it would be."""
        if os.path.isfile(real):
            raise SanityError(f"cannot read {label!r}: {refused('it', str(path), real, top)}")
        kind = _kind(Path(real))  # (what is no regular file: refused by its kind, as before)
        if kind is None:
            raise FileNotFoundError(errno.ENOENT, "not found", str(path))
        raise ValueError(f"{path} is a {kind}, not a regular file")

    def _stage_fd(self, doing: str, root: Path) -> int:
        """The directory ``root`` opened (the stage dir: only while it is the one the
        runner made); :class:`SanityError` when a job put something else at its name."""
        ident = self.stage_ident if root is self.stage_dir or root == self.stage_dir else None
        try:
            return beneath.open_dir(str(root), ident)
        except FileNotFoundError:
            raise
        except OSError:
            raise SanityError(
                f"{doing}: the stage dir {root} is no longer the directory assay made for "
                "the case (the job replaced it with a link or moved it): nothing read there; "
                "a job must not move its stage dir"
            ) from None

    def _describe(self, where: str) -> str:
        label, path = self._where(where)
        note = self.notes.get(where)
        return f"{label} ({path}{'; ' + note if note else ''})"

    def expect(self, pattern: Pattern, where: str = "stdout", *, flags: int = 0) -> re.Match[str]:
        """Require ``pattern`` to occur in ``where``; return the first match."""
        regex = _compile(pattern, flags)
        match = regex.search(self._text(where))
        if match is None:
            raise SanityError(f"pattern {_show(pattern)} not found in {self._describe(where)}")
        return match

    def expect_not(self, pattern: Pattern, where: str = "stdout", *, flags: int = 0) -> None:
        """Require ``pattern`` not to occur in ``where``."""
        regex = _compile(pattern, flags)
        text = self._text(where)
        match = regex.search(text)
        if match is not None:
            line = text.count("\n", 0, match.start()) + 1
            raise SanityError(
                f"pattern {_show(pattern)} found in {self._describe(where)} at line {line}: "
                f"{match.group(0)[:200]!r}"
            )

    def count(self, pattern: Pattern, where: str = "stdout", *, flags: int = 0) -> int:
        """How many times ``pattern`` occurs in ``where``."""
        return sum(1 for _ in _compile(pattern, flags).finditer(self._text(where)))

    @overload
    def extract(
        self,
        pattern: Pattern,
        type: None = None,
        *,
        group: int | str = 1,
        where: str = "stdout",
        flags: int = 0,
    ) -> str: ...

    @overload
    def extract(
        self,
        pattern: Pattern,
        type: Callable[[str], T],
        *,
        group: int | str = 1,
        where: str = "stdout",
        flags: int = 0,
    ) -> T: ...

    def extract(
        self,
        pattern: Pattern,
        type: Callable[[str], Any] | None = None,
        *,
        group: int | str = 1,
        where: str = "stdout",
        flags: int = 0,
    ) -> Any:
        """``group`` of the first match of ``pattern`` in ``where``, converted by ``type``."""
        match = self.expect(pattern, where, flags=flags)
        return self._convert(match, pattern, group, type, where)

    def extract_all(
        self,
        pattern: Pattern,
        type: Callable[[str], Any] | None = None,
        *,
        group: int | str = 1,
        where: str = "stdout",
        flags: int = 0,
    ) -> list[Any]:
        """Return ``group`` of every match of ``pattern`` in ``where`` (at least one), converted."""
        regex = _compile(pattern, flags)
        matches = list(regex.finditer(self._text(where)))
        if not matches:
            raise SanityError(f"pattern {_show(pattern)} not found in {self._describe(where)}")
        return [self._convert(m, pattern, group, type, where) for m in matches]

    def _convert(
        self,
        match: re.Match[str],
        pattern: Pattern,
        group: int | str,
        type_: Callable[[str], Any] | None,
        where: str,
    ) -> Any:
        try:
            raw = match.group(group)
        except IndexError:  # also what an unknown group name raises
            raise SanityError(
                f"pattern {_show(pattern)} has no group {group!r} "
                f"(searched {self._describe(where)})"
            ) from None
        if raw is None:
            raise SanityError(
                f"group {group!r} of pattern {_show(pattern)} did not take part in the match in "
                f"{self._describe(where)}"
            )
        if type_ is None:
            return raw
        try:
            return type_(raw)
        except (TypeError, ValueError) as exc:
            name = getattr(type_, "__name__", repr(type_))
            line = match.string.count("\n", 0, match.start()) + 1
            raise SanityError(
                f"pattern {_show(pattern)} matched {raw!r} in {self._describe(where)} at line "
                f"{line}, which is not a valid {name}: {exc}"
            ) from None


def with_not_outputs(spec: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``spec`` with the stage dir's files that are not outputs (unless it names its own)."""
    if not names or "not_outputs" in spec:
        return spec
    return {**spec, "not_outputs": list(names)}


def spec_key(spec: dict[str, Any]) -> str:
    """The identity of a comparison spec (a verdict computed elsewhere answers it)."""
    import json  # (here: no run needs it before its first case)

    return json.dumps(spec, sort_keys=True)


def comparison_spec(
    expected: Path,
    actual: Path,
    files: list[str] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
    ignore: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """The comparison engine's spec for ``expected`` against ``actual``: the same whether
    the comparison runs here or inside a job."""
    full: dict[str, Any] = {
        "version": 1,
        "expected": str(expected),
        "actual": str(actual),
        "rtol": rtol,
        "atol": atol,
        **spec,
    }
    if files is not None:
        full["files"] = list(files)
    if ignore:
        full["ignore"] = list(ignore)
    return full


def _storable_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A JSON object of a verdict the job wrote, its texts' lone surrogates escaped: the
    job writes that file (a remote job too, which is less trusted), and JSON's ``\\udcff``
    reads back as a lone surrogate, which the runner's journal cannot encode. (The objects
    within are done first: json calls this from the innermost out.)"""
    return {_storable(k): _storable(v) for k, v in obj.items()}


def _storable(value: Any) -> Any:
    from assay.terminal import storable

    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_storable(x) for x in value]
    return value
