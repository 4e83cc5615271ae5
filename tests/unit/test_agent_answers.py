"""The host agent's answers, each checked for its shape: an agent that answers a request
with a field missing, of the wrong type, or not base64 fails that request with one line
naming the host, the request and what was expected; never a KeyError or TypeError.

``fake_agent_fault`` stands for the agent's SSH channel: it reads the transport's real
framed requests and answers each with a made-up body (the real sshd and agent cannot
misbehave on demand). The transport, its request methods and the reader are real.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

import pytest

from assay.config import Ssh
from assay.transports.base import TransportError
from assay.transports.ssh import SshTransport
from assay.transports.ssh_link import Link
from tests.unit.test_hostile_agent import _Conn, _Sftp

HEADER = struct.Struct(">I")
HOST = "faulty.example"


class _FaultyStdin:
    """Reads the transport's requests and answers each one with ``answer(request)``."""

    def __init__(self, out: asyncio.StreamReader, answer: Callable[[dict[str, Any]], Any]):
        self.out, self.answer, self.buffer = out, answer, b""

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack(self.buffer[: HEADER.size])
            if len(self.buffer) < HEADER.size + size:
                return
            request = json.loads(self.buffer[HEADER.size : HEADER.size + size])
            self.buffer = self.buffer[HEADER.size + size :]
            body = self.answer(request)
            if isinstance(body, dict):
                body = {"rid": request["rid"], "ok": True, **body}
            data = json.dumps(body).encode()
            self.out.feed_data(HEADER.pack(len(data)) + data)

    async def drain(self) -> None:
        pass


class fake_agent_fault:  # named for what it is: a fake that injects faults
    def __init__(self, answer: Callable[[dict[str, Any]], Any]) -> None:
        self.stdout = asyncio.StreamReader()
        self.stdin = _FaultyStdin(self.stdout, answer)


def _run(
    answer: Callable[[dict[str, Any]], Any], work: Callable[[SshTransport], Awaitable[Any]]
) -> Any:
    async def scenario() -> Any:
        transport = SshTransport(Ssh(host=HOST), session="s")
        link = Link(conn=_Conn(), agent=fake_agent_fault(answer), sftp=_Sftp())  # type: ignore[arg-type]
        transport._link = link
        link.reader = asyncio.create_task(transport._read(link))
        try:
            return await asyncio.wait_for(work(transport), 10)
        finally:
            link.reader.cancel()

    return asyncio.run(scenario())


JOB = PurePosixPath("/job")


def _collect(t: SshTransport) -> Awaitable[Any]:
    return t.collect(
        JOB, names=["log"], patterns=["*.bin"], baseline={}, max_file=10, max_total=100, max_kept=50
    )


REQUESTS: dict[str, tuple[Callable[[SshTransport], Awaitable[Any]], dict[str, Any], str]] = {
    "spawn without a pid": (
        lambda t: t.spawn(["true"], cwd=JOB, stdout=JOB / "o", stderr=JOB / "e"),
        {},
        "Object missing required field `pid`",
    ),
    "run with a text exit code": (
        lambda t: t.run(["true"]),
        {"code": "0", "stdout": "", "stderr": ""},
        "Expected `int`, got `str` - at `$.code`",
    ),
    "read that is not base64": (
        lambda t: t.read_bytes(JOB / "f"),
        {"data": "%%%", "size": 3},
        "Invalid base64",
    ),
    "snapshot with a list": (
        lambda t: t.files_below(JOB),
        {"files": [1, 2]},
        "Expected `object`, got `array` - at `$.files`",
    ),
    "prepare with a negative size": (
        lambda t: t.prepare(JOB, [], True),
        {"files": {"a": [-1, 0]}},
        "Expected `int` >= 0",
    ),
    "collect with a file without data": (
        _collect,
        {"files": [{"path": "a", "size": 1, "mode": 420}], "left": []},
        "Object missing required field `data`",
    ),
    "collect with left entries of the wrong shape": (
        _collect,
        {"files": [], "left": [["a"]]},
        "Expected `array` of length 2",
    ),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_an_answer_of_the_wrong_shape_fails_the_request_with_one_line(name: str) -> None:
    work, body, detail = REQUESTS[name]
    with pytest.raises(TransportError) as failed:
        _run(lambda request: body, work)
    message = str(failed.value)
    assert message.startswith(f"{HOST}: the host agent answered "), message
    assert "was expected" in message and detail in message and "\n" not in message


def test_a_terminate_answer_without_a_status_fails_with_one_line() -> None:
    from assay.transports.ssh_link import RemoteProcess

    async def work(t: SshTransport) -> Any:
        return await RemoteProcess(t, "j").terminate(1.0)

    with pytest.raises(TransportError, match=r"answered 'terminate' with \{.*Ended was expected"):
        _run(lambda request: {"status": None}, work)


def test_a_hello_of_the_wrong_shape_fails_with_one_line() -> None:
    async def work(t: SshTransport) -> Any:
        assert t._link is not None
        await t._greet(t._link)

    with pytest.raises(TransportError, match=r"answered 'hello' .*Hello was expected"):
        _run(lambda request: {"pid": 7, "uid": 0, "jobs": {"j": "ended"}}, work)


def test_a_well_formed_collect_still_brings_its_files_back() -> None:
    data = base64.b64encode(b"hello").decode()
    body = {"files": [{"path": "a", "data": data, "size": 5, "mode": 0o644}], "left": [["b", 9]]}
    found, left, kept_left = _run(lambda request: body, _collect)
    assert found == [("a", b"hello", 5, 0o644)] and left == [("b", 9)] and kept_left == []


def _file(path: str, data: bytes, size: int | None = None) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    return {"path": path, "data": encoded, "size": len(data) if size is None else size, "mode": 0}


@pytest.mark.parametrize(
    ("files", "named"),
    [
        # 10 (a log) + 50 (kept) + 100 (new files) bytes asked for at most: 161 is too many.
        ([_file("a.bin", b"x" * 161)], "'a.bin' with 161 bytes (161 bytes in all)"),
        ([_file("log", b"x" * 10), _file("b", b"y" * 100), _file("c", b"z" * 51)], "'c'"),
        # Content longer than the size the host gives for the file.
        ([_file("d", b"x" * 20, size=5)], "'d' with 20 bytes"),
    ],
)
def test_a_collect_bringing_more_than_the_caps_is_refused_naming_the_file(
    files: list[dict[str, Any]], named: str
) -> None:
    with pytest.raises(TransportError) as failed:
        _run(lambda request: {"files": files, "left": []}, _collect)
    message = str(failed.value)
    assert message.startswith(f"{HOST}: the host agent sent {named}"), message
    assert "160 bytes asked for (ssh.bring_back, bring_back_kept and bring_back_total" in message


def test_the_host_agent_is_asked_for_the_kept_files_cap() -> None:
    asked: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        asked.append(request)
        return {"files": [], "left": [], "kept_left": [["big.bin", 99]]}

    _found, _left, kept_left = _run(answer, _collect)
    assert asked[0]["max_kept"] == 50 and kept_left == [("big.bin", 99)]


def _read(data: bytes, size: int, limit: int | None = None) -> Any:
    body = {"data": base64.b64encode(data).decode(), "size": size}
    return _run(lambda request: body, lambda t: t.read_bytes(JOB / "f", limit=limit))


def test_a_read_of_a_file_larger_than_one_answer_carries_fails_naming_it_and_its_size() -> None:
    """Only the file's end would fit; no silent tail, and no frame that drops the
    connection for every case on the host."""
    with pytest.raises(TransportError) as failed:
        _read(b"end", 1 << 40)
    message = str(failed.value)
    assert message.startswith(f"{HOST}: /job/f is {1 << 40} bytes, more than the "), message
    assert "assay fetch" in message


def test_a_read_bringing_more_than_asked_is_refused() -> None:
    with pytest.raises(TransportError, match="sent 10 bytes of /job/f, more than the 5 asked"):
        _read(b"x" * 10, 10, limit=5)
    assert _read(b"grown", 3) == b"grown"  # a file that grew while it was read
    assert _read(b"tail", 100, limit=4) == b"tail"  # a tail asked for is a tail
    assert _read(b"whole", 5) == b"whole"
