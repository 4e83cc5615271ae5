"""A failure's texts are ones every writer can encode and every reader can show: lone
surrogates escaped, an empty reason replaced (readers show a reason's first line)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from assay.define.output import Output
from assay.errors import SanityError
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


class _EveryKey(dict):  # type: ignore[type-arg]
    """A fake of the runner's map of comparisons made in the job: the one verdict file for
    whatever the test's comparison is (the key is the runner's business, not this test's)."""

    def get(self, key: object, default: object = None) -> object:
        return self["verdict"]


def test_a_verdict_the_job_wrote_with_lone_surrogates_is_kept_escaped(tmp_path: Path) -> None:
    # A job (a remote host's, less trusted) writes the verdict file; JSON's \udcff escape
    # reads back as a lone surrogate, which the journal's encoder refused (the run ended).
    stage = tmp_path / "stage"
    stage.mkdir()
    (tmp_path / "exp").mkdir()
    lying = {
        "version": 1,
        "ok": False,
        "summary": f"{BAD}: extra file",
        "files": [{"file": BAD, "differences": [{"file": BAD, "expected": [BAD]}]}],
        "missing": [],
        "extra": [BAD],
        "errors": [],
        BAD: BAD,
    }
    verdict = stage / "assay-verdict.json"
    verdict.write_text(json.dumps(lying))  # (ensure_ascii: written as \udcff)
    out = Output(stage, stage / "run.out", stage / "run.err", 0, tmp_path)
    out.precomputed = _EveryKey(verdict=verdict)
    with pytest.raises(SanityError, match=r"bad\\xff\.dat: extra file"):
        out.compare("exp")
    [kept] = out.comparisons
    msgspec.json.encode(kept)
    assert kept["extra"] == ["bad\\xff.dat"]
    assert kept["files"][0]["differences"][0]["expected"] == ["bad\\xff.dat"]
    assert kept["bad\\xff.dat"] == "bad\\xff.dat"
