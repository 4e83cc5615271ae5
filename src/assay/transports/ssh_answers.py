"""The shapes of the host agent's answers (:mod:`assay.transports.hostagent`), checked as
they arrive: a broken or hostile host gets one line naming the host, the request and what
was wrong, never a ``KeyError`` or ``TypeError`` from deep in the transport.

The agent runs on a machine assay does not control, so its answers are input like any
other. Each request that reads fields of its answer names the shape it expects here;
:func:`expect` turns the decoded JSON into that shape (base64 becomes bytes) or raises
:class:`~assay.transports.base.TransportError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

import msgspec

from assay import terminal
from assay.transports.base import TransportError

Count = Annotated[int, msgspec.Meta(ge=0)]
_SHOWN = 120  # characters of a bad answer quoted in the message


class Hello(msgspec.Struct):
    """``hello``: the agent daemon's pid, the remote uid, and the jobs it knows (status, or
    None while one runs)."""

    pid: int
    uid: int
    jobs: dict[str, int | None] = {}
    protocol: int = 1  # an agent older than the field speaks 1


class Ran(msgspec.Struct):
    """``run``: a command's exit code and output."""

    code: int
    stdout: str
    stderr: str


class Spawned(msgspec.Struct):
    """``spawn``: the job's pid, and what its directory held as it started when the
    request carried the case's files."""

    pid: int
    files: dict[str, tuple[Count, int]] | None = None


class Ended(msgspec.Struct):
    """``terminate``: the job's status."""

    status: int


class Read(msgspec.Struct):
    """``read``: the file's content (or its last ``limit`` bytes), and its size."""

    data: bytes
    size: Count


READ_MAX = 128 << 20
"""Bytes of one file read through the agent (its frames are at most 256 MiB, of base64)."""


def read_whole(host: str, path: str, answer: Read, limit: int | None) -> bytes:
    """The content a ``read`` asked for: refused when the host sent more than ``limit``
    (a file may grow while it is read: its size says nothing here), or, with no
    ``limit``, when the file was larger than :data:`READ_MAX` and only its end came."""
    cap = READ_MAX if limit is None else limit
    if len(answer.data) > cap:
        raise TransportError(
            f"{host}: the host agent sent {len(answer.data)} bytes of {path}, more than "
            f"the {cap} asked for"
        )
    if limit is None and answer.size > len(answer.data):
        raise TransportError(
            f"{host}: {path} is {answer.size} bytes, more than the {READ_MAX} assay reads "
            "through its agent; keep such a file out of what is read back (a dependency's "
            "dep: layer), or bring the case's directory back with `assay fetch`"
        )
    return answer.data


class Listing(msgspec.Struct):
    """``prepare`` and ``snapshot``: every file below a directory -> [size, mtime in ns]."""

    files: dict[str, tuple[Count, int]]


class Collected(msgspec.Struct):
    """One file of a ``collect``: its content (whole, or its last bytes), its size on the
    host and its permission bits."""

    path: str
    data: bytes
    size: Count
    mode: Count


class Collection(msgspec.Struct):
    """``collect``: the files brought back; those left on the host as (path, size), and
    those of ``keep_files`` left because they pass ``ssh.bring_back_kept``."""

    files: list[Collected]
    left: list[tuple[str, Count]]
    kept_left: list[tuple[str, Count]] = []


class ExitEvent(msgspec.Struct):
    """The event a job's end sends; with what the job left worth bringing back when its
    start asked for that."""

    job: str
    status: int
    collected: Collection | None = None


def collect_limit(names: Sequence[str], max_file: int, max_total: int, max_kept: int) -> int:
    """The most bytes a ``collect`` with these fields may bring: each named log's tail,
    ``bring_back_kept`` and ``bring_back_total``."""
    return len(names) * max_file + max_kept + max_total


T = TypeVar("T")


def expect(host: str, op: str, answer: Any, shape: type[T]) -> T:
    """``answer`` (decoded JSON) as ``shape``; a :class:`TransportError` naming the host,
    the request and the fault when it is not one."""
    try:
        return msgspec.convert(answer, shape)
    except msgspec.ValidationError as exc:
        raise TransportError(
            f"{host}: the host agent answered {op!r} with {quoted(answer)} where "
            f"{shape.__name__} was expected ({exc}); check that the host runs the agent "
            "assay sent, and that nothing else writes to its output"
        ) from None


def capped(host: str, answer: Collection, limit: int) -> None:
    """Refuse a ``collect`` answer that brings more than was asked for: a file's content
    longer than its size, or more than ``limit`` bytes in all (``ssh.bring_back`` for each
    log, ``bring_back_kept`` and ``bring_back_total``), naming the file that passes it."""
    total = 0
    for item in answer.files:
        total += len(item.data)
        if len(item.data) > item.size or total > limit:
            raise TransportError(
                f"{host}: the host agent sent {terminal.line(repr(item.path))} with "
                f"{len(item.data)} bytes ({total} bytes in all), more than the "
                f"{limit} bytes asked for (ssh.bring_back, bring_back_kept and "
                "bring_back_total set the caps); nothing of it was written"
            )


def quoted(answer: Any) -> str:
    """The start of a bad answer, as one escaped line."""
    try:
        text = msgspec.json.encode(answer).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(answer)
    if len(text) > _SHOWN:
        text = text[:_SHOWN] + "..."
    return terminal.line(text)
