"""A host whose "agent" answers anything: a frame announcing 4 GiB, bytes that are not JSON,
JSON that is not a message, an event without its fields. The connection is given up at
once with one line naming the host and what it sent (no read of the announced size, no
reconnecting in a loop, no reader task dying with a traceback), and a request waiting on it
fails with that line.

``HostileAgentProcess`` stands for the SSH channel of the agent: its output is made up; the
transport reading it is real.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest

from assay.config import Ssh
from assay.transports.base import TransportError
from assay.transports.ssh import SshTransport
from assay.transports.ssh_link import Link as _Link


class _Stdin:
    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass


class HostileAgentProcess:
    def __init__(self) -> None:
        self.stdout = asyncio.StreamReader()
        self.stdin = _Stdin()


class _Conn:
    def close(self) -> None:
        pass

    def is_closed(self) -> bool:
        return True


class _Sftp:
    def exit(self) -> None:
        pass


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


HOSTILE = {
    "huge": (struct.pack(">I", 0xFFFFFFFF), "announced a message of 4294967295 bytes"),
    "not json": (_frame(b"\xff{not json"), "not one of its answers"),
    "a list": (_frame(b"[1, 2]"), "not one of its answers"),
    "a number": (_frame(b"7"), "not one of its answers"),
    "event without status": (
        _frame(json.dumps({"event": "exit", "job": "j"}).encode()),
        "not one of",
    ),
    "event with a bad status": (
        _frame(json.dumps({"event": "exit", "job": "j", "status": "x"}).encode()),
        "not one of",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_garbled_answer_gives_the_connection_up_with_one_line(name: str) -> None:
    data, expected = HOSTILE[name]

    async def scenario() -> tuple[BaseException | None, Any]:
        transport = SshTransport(Ssh(host="hostile.example"), session="s")
        agent = HostileAgentProcess()
        link = _Link(conn=_Conn(), agent=agent, sftp=_Sftp())  # type: ignore[arg-type]
        transport._link = link
        from assay.transports.ssh_link import RemoteProcess

        job = RemoteProcess(transport, "j")
        transport._jobs["j"] = job
        reader = asyncio.create_task(transport._read(link))
        request = asyncio.create_task(transport.call("ping"))
        await asyncio.sleep(0)
        agent.stdout.feed_data(data)  # and nothing more: the stream stays open
        await asyncio.wait_for(reader, 5)
        try:
            await asyncio.wait_for(request, 5)
        except TransportError as exc:
            failed: BaseException | None = exc
        else:
            failed = None
        with pytest.raises(TransportError) as job_failed:
            await asyncio.wait_for(job.wait(), 5)
        return failed, job_failed.value

    failed, job_error = asyncio.run(scenario())
    assert isinstance(failed, TransportError), failed
    message = str(failed)
    assert message.startswith("hostile.example: what answers as assay's agent there ")
    assert expected in message and "\n" not in message
    assert str(job_error) == message
