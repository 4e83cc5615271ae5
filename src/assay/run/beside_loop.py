"""A suite case's comparison of large outputs, run in a thread beside the event loop.

The comparison engine is Python, and a large comparison takes seconds (150,000 differing
lines of numbers: about 4 s of CPU). On the loop's thread it would hold every other case
still: their processes' ends unnoticed (a ``sleep 0.5`` case beside it was recorded as
running 14.5 s, which history would then call a slowdown), their slots not refilled, the
live display frozen. In a thread the loop runs between the comparison's switch intervals.

Only a compiled suite's own sanity goes there (assay's code, holding none of the user's:
:func:`assay.guard.own`); a Python test's sanity is the user's code and runs where test code
runs, under :func:`assay.guard.running`, which swaps process-wide state that a thread
beside the loop would tear. Small outputs stay on the loop: a thread costs more than their
comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from assay import overrun

BIG = 1 << 20
"""Bytes of compared files (the actual ones when named, else the expected ones) from which
a comparison runs beside the loop: about 15,000 lines, tens of milliseconds and more."""
_GLOB = frozenset("*?[")
_LOOKED_AT = 256  # expected entries looked at when the files are globs or not named


def compares_big(test: Any, stage_dir: Path) -> bool:
    """Whether ``test`` is a suite case whose sanity compares files of :data:`BIG` bytes
    or more (looked at without opening any: sizes of the files or links themselves)."""
    if not getattr(type(test).sanity, "compares_only", False):
        return False
    expected, spec = test.expected_dir(), test.case_compare()
    if spec is None or expected is None:
        return False
    files = spec.get("files")
    if files and not any(_GLOB.intersection(name) for name in files):
        top = str(stage_dir)  # (joined as strings: a pathlib join is a dozen Python calls)
        return _sizes([os.path.join(top, name) for name in files]) >= BIG
    return _sizes(_expected_files(expected)) >= BIG


def _sizes(paths: Iterable[str | Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            total += os.lstat(path).st_size
        if total >= BIG:
            break
    return total


def _expected_files(expected: Path) -> Iterable[Path]:
    """The expected file, or the files beneath the expected dir (the first few hundred)."""
    if not expected.is_dir():
        yield expected
        return
    seen = 0
    for root, _dirs, names in os.walk(expected):
        for name in names:
            yield Path(root, name)
            seen += 1
            if seen >= _LOOKED_AT:
                return


async def beside_loop(
    name: str, func: Callable[..., Any], *args: Any, limit: float | None = None
) -> Any:
    """``func(*args)`` in a daemon thread of its own, awaited: its result, or what it raised;
    :class:`~assay.overrun.TookTooLong` once it ran ``limit`` seconds (the thread goes on,
    unheard: no thread can be stopped; the process's end does not wait for it). A daemon
    thread, not the loop's executor: a run stopped with Ctrl-C ends without waiting for a
    comparison no one will read."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if done.done():  # (cancelled: the case was interrupted)
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)

    def work() -> None:
        value, error = None, None
        try:
            value = func(*args)
        except BaseException as exc:  # handed to the case's stage, which judges it
            error = exc
        with contextlib.suppress(RuntimeError):  # (the loop closed: no one waits)
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name=name, daemon=True).start()
    if limit is None:
        return await done
    try:
        return await asyncio.wait_for(done, limit)
    except TimeoutError:
        raise overrun.TookTooLong(limit) from None
