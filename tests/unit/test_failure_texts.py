"""A failure's texts are ones every writer can encode and every reader can show: lone
surrogates escaped, an empty reason replaced (readers show a reason's first line)."""

from __future__ import annotations

import json

import msgspec

from assay.results.model import NO_REASON, Failure
from assay.terminal import storable

BAD = b"bad\xff.dat".decode(errors="surrogateescape")


def test_lone_surrogates_are_escaped_and_nothing_else_changes() -> None:
    assert storable(f"file {BAD}\n\x1b[2J é") == "file bad\\xff.dat\n\x1b[2J é"
    assert storable("\ud800 alone") == "\\ud800 alone"
    text = "plain text\nwith lines"
    assert storable(text) is text


def test_a_failure_holds_text_json_can_encode() -> None:
    failure = Failure("sanity", f"unexpected file {BAD}", f"in {BAD}")
    assert failure.reason == "unexpected file bad\\xff.dat"
    assert failure.details == "in bad\\xff.dat"
    json.dumps(msgspec.to_builtins(failure)).encode()


def test_an_empty_reason_is_said_so_made_or_read_back() -> None:
    assert Failure("sanity", "").reason == NO_REASON
    read = msgspec.json.decode(b'{"stage": "run", "reason": ""}', type=Failure)
    assert read.reason.splitlines()[0] == NO_REASON
