"""A session's rows written into the results database by a process of its own.

The runner's recorder thread hands this process its batches of finished cases (one
message each, through a pipe: a single encode, and a write that releases the GIL) and the
process does what the thread would have: builds the rows, binds them, merges the series,
commits and checkpoints. That work no longer holds the GIL the runner's event loop needs.
The process ends once the runner closes the pipe, having written everything it was sent.

A failure of the process (the database fails, the process dies) is reported once, as the
thread's are: the run goes on, and the next session imports what is missing from the
session's directory. It ignores SIGINT: a Ctrl-C stops the runner, whose session's end
still reaches the database through it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from assay.results.db.types import SessionRecord
from assay.results.model import CaseResult

SAID = 3  # the process's exit status when it said why it failed


class Open(msgspec.Struct, tag="open"):
    """The first message: the database (through the pipe, not the command line, which
    every user can read: a PostgreSQL URL may hold a password)."""

    target: str


class Begin(msgspec.Struct, tag="begin"):
    session: SessionRecord


class Cases(msgspec.Struct, tag="cases"):
    results: list[CaseResult]


class End(msgspec.Struct, tag="end"):
    finished: float | None
    interrupted: str | None
    eta_first: float | None
    eta_made: float | None


Message = Open | Begin | Cases | End
_HEADER = 4  # bytes of a message's length, big-endian, before it


class RecordingProcess:
    """The runner's side: the process, and the pipe its messages go through."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        assert process.stdin is not None
        self._fd = process.stdin.fileno()
        self._encode = msgspec.msgpack.Encoder().encode

    @classmethod
    def start(cls, target: str) -> RecordingProcess:
        import assay

        # The process finds this assay where the runner found it (not on sys.path's
        # default: a checkout run with PYTHONPATH, say).
        where = str(Path(assay.__file__).resolve().parent.parent)
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]);"
            " from assay.results.recording_process import main; sys.exit(main())"
        )
        # A session of its own: a Ctrl-C (or a hangup) for the runner's process group is the
        # runner's to handle, and the end it then writes still reaches the database through
        # this process, which ends when the runner closes the pipe (or dies).
        process = subprocess.Popen(
            [sys.executable, "-c", code, where],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
        started = cls(process)
        started._send(Open(target))
        return started

    def begin(self, record: SessionRecord) -> None:
        self._send(Begin(record))

    def write(self, batch: Sequence[CaseResult]) -> None:
        self._send(Cases(list(batch)))

    def end(
        self,
        finished: float | None,
        interrupted: str | None,
        eta_first: float | None,
        eta_made: float | None,
    ) -> None:
        self._send(End(finished, interrupted, eta_first, eta_made))

    def close(self) -> None:
        """Close the pipe and wait until the process wrote what it was sent."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except OSError:
            pass
        self._check(self._process.wait())

    def _send(self, message: Message) -> None:
        body = self._encode(message)
        data = memoryview(len(body).to_bytes(_HEADER, "big") + body)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            # (it ended: why comes from its exit status)
            self._check(self._process.wait())
            raise self._failed(None) from None

    def _check(self, status: int) -> None:
        if status != 0:
            raise self._failed(status)

    def _failed(self, status: int | None) -> Exception:
        from assay.results.recorder import ProcessFailed

        if status == SAID:
            return ProcessFailed("", said=True)
        how = "ended" if status is None else f"ended with status {status}"
        return ProcessFailed(f"the process that recorded this session {how}")


def _read(stream: object, n: int) -> bytes | None:
    """``n`` bytes of ``stream``, or None at its end."""
    read = stream.read  # type: ignore[attr-defined]
    data = b""
    while len(data) < n:
        more = read(n - len(data))
        if not more:
            return None
        data += more
    return data


def main() -> int:
    """The process: messages on stdin until its end, :class:`Open` first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from assay.results.db import ResultsDB, redact
    from assay.results.recorder import (
        CHECKPOINT_PAGES,
        RECORDING_CACHE_KIB,
        SessionWriter,
        failure_message,
        warn_on_stderr,
    )

    decode = msgspec.msgpack.Decoder(Message).decode
    stdin = sys.stdin.buffer
    header = _read(stdin, _HEADER)
    body = None if header is None else _read(stdin, int.from_bytes(header, "big"))
    first = None if body is None else decode(body)
    if not isinstance(first, Open):
        return 0  # (the runner ended before it said which database: nothing to write)
    target = first.target
    try:
        # (the runner imported the prefix's sessions when it opened the database: neither
        # the import nor its modules are needed here)
        db = ResultsDB.open(target)
    except Exception as exc:  # (said as the runner's own open would have said it)
        warn_on_stderr(failure_message(exc, redact(target)))
        return SAID
    try:
        db.backend.limit_cache(RECORDING_CACHE_KIB)
        db.backend.defer_checkpoints(CHECKPOINT_PAGES)
        writer = SessionWriter(db)
        while (header := _read(stdin, _HEADER)) is not None:
            body = _read(stdin, int.from_bytes(header, "big"))
            if body is None:
                break  # (the runner died mid-message: what came before is written)
            message = decode(body)
            if isinstance(message, Open):
                continue
            if isinstance(message, Begin):
                writer.begin(message.session)
            elif isinstance(message, Cases):
                writer.write(message.results)
            else:
                m = message
                writer.end(m.finished, m.interrupted, m.eta_first, m.eta_made)
    except Exception as exc:
        warn_on_stderr(failure_message(exc, db.where))
        return SAID
    finally:
        try:
            db.close()
        except Exception:  # noqa: S110 - closing after a failure: nothing more to say
            pass
    return 0
