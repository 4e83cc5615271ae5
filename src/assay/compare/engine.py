"""Comparing what a spec names: file by file, then missing, extra and the root command."""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import posixpath
from typing import TYPE_CHECKING, Any

from . import beneath
from .binary import (
    _PINNED,
    compare_binary,
    not_a_file,
    open_raw,
    pinned,  # noqa: F401  (the engine's callers and tests pin through it)
    pinned_fd,
    sniff,
    sniff_bytes,
)
from .command import command_result
from .confine import links_out, refused
from .jsondoc import compare_json
from .options import files_under
from .result import VERSION, Result, verdict
from .spec import prepare
from .tables import compare_csv
from .text import compare_text
from .view import outputs_view

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .options import Options, Plan

_COMPARERS: dict[str, Callable[[str, str, Result, Options], None]] = {
    "text": compare_text,
    "csv": compare_csv,
    "json": compare_json,
    "binary": compare_binary,
}


_PARSED = (".csv", ".tsv", ".json")
_WHOLE = 1 << 16  # bytes: files up to this size are read whole to see if they are equal


def _format_of(path: str, opt: Options) -> str:
    if opt.format:
        return opt.format
    ext = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".tsv": "csv", ".json": "json"}.get(ext) or sniff(path)


def _compare_one(
    rel: str, expected: str, actual: str, plan: Plan, actual_info: os.stat_result
) -> Result:
    """``actual_info``: ``os.stat(actual)``, as the caller found it there."""
    opt = plan.options(rel)
    if opt.command is not None:
        return command_result(
            rel, opt.command, expected, actual, rel, plan.limit, plan.timeout, plan.tools
        )
    res = Result(rel, "text", plan.limit)
    try:
        sizes = []
        for side, path in (("expected", expected), ("actual", actual)):
            # (an expected file's look: prepare's, when it took one)
            info = actual_info if side == "actual" else plan.expected_info.get(rel) or os.stat(path)
            kind = not_a_file(path, info)
            if kind is not None:
                res.fail(f"{side} {path} is a {kind}, not a regular file")
                return res
            sizes.append(info.st_size)
        if sizes[0] == sizes[1] and _equal_small(expected, actual, sizes[0], res, opt):
            return res
        res.format = fmt = _format_of(expected, opt)
        res.counts = {"json": "values", "binary": ""}.get(fmt, "lines")
        _COMPARERS[fmt](expected, actual, res, opt)
    except (OSError, ValueError, csv.Error, RecursionError, MemoryError) as exc:
        res.fail(f"cannot compare: {exc}")
    return res


def _equal_small(expected: str, actual: str, size: int, res: Result, opt: Options) -> bool:
    """Whether two small text or binary files of ``size`` bytes (as looked at) are equal
    byte for byte; if so, ``res`` says what their comparison would (one read each, no line
    by line walk). Files that differ, are large, are no longer of that size, or are tables
    or JSON (whose counts need parsing) are left to the comparers."""
    if size > _WHOLE:
        return False
    ext = os.path.splitext(expected)[1].lower()
    if opt.format not in (None, "text", "binary") or (opt.format is None and ext in _PARSED):
        return False
    data = _read(expected, size + 1)  # (+1: one read that also sees the end)
    if len(data) != size or data != _read(actual, size + 1):
        return False
    res.format = opt.format or sniff_bytes(data)
    if res.format == "binary":
        res.counts = ""
    else:  # as the line walk counts: every line end, and a last line without one
        res.counts = "lines"
        res.lines = data.count(b"\n") + (not data.endswith(b"\n") and len(data) > 0)
    return True


def _read(path: str, size: int) -> bytes:
    """One raw read of up to ``size`` bytes from the start of ``path`` (no file object,
    whose set-up costs system calls of its own; a short read only sends the caller the
    long way)."""
    held = pinned_fd(path)
    if held is not None:
        # The actual file, opened beneath the actual dir (and looked at: a regular file):
        # read from its start where it is, without a duplicate to rewind and close (one
        # system call, not four; its offset stays where it was).
        return os.pread(held, size, 0)
    # O_NONBLOCK: a FIFO swapped in since the look is opened at once (an empty read: the
    # sizes then differ, and the long way's open_file refuses it), never waited on.
    fd = open_raw(path)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def _dangling(path: str) -> str | None:
    """For a symbolic link that leads to nothing (its target, or a link on the way,
    missing or out of reach): where it points, said for a reader; else None."""
    try:
        target = os.readlink(path)
    except (OSError, ValueError):
        return None
    return f"{target!r}, which does not exist (or cannot be reached)"


def compare(spec: Mapping[str, Any], actual_fd: int | None = None) -> dict[str, Any]:
    """Compare what ``spec`` names; the verdict (see the package docstring).
    ``actual_fd``: the actual directory as the caller opened it (the stage dir it made,
    not what a job may have put at its name since); else it is opened here."""
    plan, problems = prepare(spec)
    if plan is None:
        return verdict([], [], [], problems)
    found: list[Result | None] = []
    missing: list[str] = []
    root_fd = actual_fd
    if root_fd is None and (not plan.single or os.path.isdir(plan.actual)):
        # (The directories to it, itself included, are the caller's: followed.)
        with contextlib.suppress(OSError):
            root_fd = os.open(plan.actual, os.O_RDONLY | os.O_DIRECTORY | beneath.CLOEXEC)
    try:
        for rel in plan.selected:
            expected = plan.expected if plan.single else os.path.join(plan.expected, rel)
            found.append(_one(rel, expected, plan, root_fd, missing))
    finally:
        if root_fd is not None and root_fd != actual_fd:
            os.close(root_fd)
    results = [r for r in found if r is not None]
    extra = set()
    for folder in plan.complete:
        for rel in files_under(os.path.join(plan.actual, folder)):
            full = posixpath.normpath(posixpath.join(folder, rel))
            if full not in plan.everything and full not in plan.not_outputs:
                extra.add(full)
    out = links_out(plan.actual) if plan.command and os.path.isdir(plan.actual) else []
    if out:  # the command would read through them, with this process's privileges
        root = Result("(command)", "text", plan.limit)
        rel, real = out[0]
        more = f" (and {len(out) - 1} more such links)" if len(out) > 1 else ""
        where = os.path.join(plan.actual, rel)
        root.fail(f"not run: {refused('actual', where, real, plan.actual)}{more}")
        results.append(root)
    elif plan.command:
        with outputs_view(plan.actual, plan.not_outputs) as actual:
            root = command_result(
                "(command)",
                plan.command,
                plan.expected,
                actual,
                "",
                plan.limit,
                plan.timeout,
                plan.tools,
            )
        results.append(root)
    return verdict(results, missing, sorted(extra), [])


def _one(
    rel: str, expected: str, plan: Plan, root_fd: int | None, missing: list[str]
) -> Result | None:
    """The result of comparing ``rel``; None when it is missing (added to ``missing``).
    Below the actual directory, the actual file is opened beneath it, each link on the way
    looked at as it is walked (:mod:`.beneath`): one leading out is refused before
    anything out there is opened, and the file compared is the one opened then (a link
    swapped in later by a process the job left leads nowhere)."""
    actual = plan.actual if plan.single else os.path.join(plan.actual, rel)
    if root_fd is None:  # a single actual file named by the caller (or no actual dir)
        try:
            info = os.stat(actual)
        except (OSError, ValueError):  # (as os.path.exists)
            return _absent(rel, actual, plan, missing)
        return _compare_one(rel, expected, actual, plan, info)
    actual = os.path.join(plan.actual, rel)
    try:
        fd = beneath.open_beneath(root_fd, rel, root=plan.actual)
    except beneath.LeadsOut as exc:  # never read (nor shown): perhaps a file the job could not
        res = Result(rel, "text", plan.limit)
        res.fail(refused("actual", actual, exc.real, plan.actual))
        return res
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (or a device with nothing behind it)
            res = Result(rel, "text", plan.limit)
            res.fail(f"actual {actual} is a socket or device, not a regular file")
            return res
        return _absent(rel, actual, plan, missing)
    except ValueError:  # (as os.path.exists: a NUL in the name)
        return _absent(rel, actual, plan, missing)
    # (pinned's work, without a generator context manager per file)
    _PINNED[actual] = fd
    try:
        return _compare_one(rel, expected, actual, plan, os.fstat(fd))
    finally:
        _PINNED.pop(actual, None)
        os.close(fd)


def _absent(rel: str, actual: str, plan: Plan, missing: list[str]) -> Result | None:
    dangling = _dangling(actual)
    if dangling is None:
        missing.append(rel)
        return None
    res = Result(rel, "text", plan.limit)  # not "missing": the run made it, as a link to nothing
    res.fail(f"actual {actual} is a symbolic link to {dangling}")
    return res


def compare_files(expected: str, actual: str, **spec: Any) -> dict[str, Any]:
    """Compare two files or directories; ``spec`` holds any other key of a spec."""
    return compare({"version": VERSION, "expected": expected, "actual": actual, **spec})
