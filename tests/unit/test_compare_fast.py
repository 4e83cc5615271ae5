"""The comparison's two shortcuts give what the long way gives.

* Equal small files are read once each and compared as bytes (``engine._equal_small``):
  the verdict must be the one the line walk (or the byte comparer) gives, for any bytes.
* A spec's checks (everything but its roots and ``not_outputs``) are made once per distinct
  spec (``spec._static``): a cached check must never answer for a spec that differs, even
  only in a value's type, nor change when a caller changes its lists afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.compare import compare_files, engine, spec
from assay.compare.options import Options
from assay.compare.result import Result
from assay.compare.spec import prepare

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

contents = st.one_of(
    st.binary(max_size=64),
    st.lists(
        st.sampled_from([b"a", b"1.5", b" ", b"\n", b"\r", b"\r\n", b"\0", b"\xff", b"\xc3"])
    ).map(b"".join),
)


def _long_way(expected: Path, actual: Path, **keys: Any) -> dict[str, Any]:
    """The verdict without the byte shortcut."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "_equal_small", lambda *a: False)
        verdict: dict[str, Any] = compare_files(str(expected), str(actual), **keys)
        return verdict


@SETTINGS
@given(data=contents, fmt=st.sampled_from([None, "text", "binary"]))
def test_equal_files_get_the_long_ways_verdict(
    tmp_path: Path, data: bytes, fmt: str | None
) -> None:
    expected, actual = tmp_path / "e.out", tmp_path / "a.out"
    expected.write_bytes(data)
    actual.write_bytes(data)
    keys: dict[str, Any] = {} if fmt is None else {"rules": [{"match": "*", "format": fmt}]}
    calls = []
    original = engine._equal_small

    def counted(*args: Any) -> bool:
        calls.append(original(*args))
        return calls[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "_equal_small", counted)
        fast = compare_files(str(expected), str(actual), **keys)
    assert calls == [True]  # the shortcut answered
    assert fast == _long_way(expected, actual, **keys)
    assert fast["ok"]


@pytest.mark.parametrize(
    ("name", "expected", "actual"),
    [
        ("x.txt", b"a\nb\n", b"a\nc\n"),
        ("x.txt", b"a\nb", b"a\nb\n"),  # equal as text, not as bytes
        ("x.bin", b"\0\1", b"\0\2"),
        ("x.csv", b"a,b\n1,2\n", b"a,b\n1,2\n"),  # tables count values: the long way
        ("x.json", b'{"a": 1}', b'{"a": 1}'),
    ],
)
def test_other_files_take_the_long_way(
    tmp_path: Path, name: str, expected: bytes, actual: bytes
) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "e" / name).write_bytes(expected)
    (tmp_path / "a" / name).write_bytes(actual)
    fast = compare_files(str(tmp_path / "e"), str(tmp_path / "a"))
    assert fast == _long_way(tmp_path / "e", tmp_path / "a")


def test_large_equal_files_take_the_long_way(tmp_path: Path) -> None:
    data = b"1 2 3\n" * (engine._WHOLE // 6 + 1)
    (tmp_path / "e").write_bytes(data)
    (tmp_path / "a").write_bytes(data)
    res = Result("e", "text", 20)
    assert not engine._equal_small(
        str(tmp_path / "e"), str(tmp_path / "a"), len(data), res, Options()
    )
    verdict = compare_files(str(tmp_path / "e"), str(tmp_path / "a"))
    assert verdict["ok"] and verdict["files"][0]["lines"] == data.count(b"\n")


def test_a_fifo_is_refused_before_any_read(tmp_path: Path) -> None:
    (tmp_path / "e").write_text("x\n")
    os.mkfifo(tmp_path / "a")  # reading it would wait for ever
    verdict = compare_files(str(tmp_path / "e"), str(tmp_path / "a"))
    assert not verdict["ok"]
    assert "is a FIFO, not a regular file" in verdict["files"][0]["message"]


# -- the cache of checked specs --------------------------------------------------------------


def _roots(tmp_path: Path, n: int) -> tuple[str, str]:
    expected, actual = tmp_path / f"e{n}", tmp_path / f"a{n}"
    expected.mkdir()
    actual.mkdir()
    (expected / "out.txt").write_text("1\n")
    return str(expected), str(actual)


def test_a_spec_is_checked_once_for_many_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = []
    original = spec._Static

    def counted(raw: Any) -> Any:
        made.append(raw)
        return original(raw)

    monkeypatch.setattr(spec, "_Static", counted)
    monkeypatch.setattr(spec, "_CACHE", {})
    for n in range(5):
        expected, actual = _roots(tmp_path, n)
        plan, problems = prepare(
            {
                "version": 1,
                "expected": expected,
                "actual": actual,
                "files": ["out.txt"],
                "not_outputs": [f"in{n}.txt"],
                "ignore": ["^#"],
            }
        )
        assert plan is not None and not problems
        assert (plan.expected, plan.actual) == (expected, actual)
        assert plan.not_outputs == frozenset({f"in{n}.txt"})
    assert len(made) == 1


@pytest.mark.parametrize(
    ("good", "bad", "problem"),
    [
        ({"rtol": 1}, {"rtol": True}, "rtol: True is not a number"),
        ({"max_differences": 1}, {"max_differences": 1.0}, "max_differences: 1.0 must be"),
        ({"files": ["out.txt"]}, {"files": "out.txt "}, "matches nothing"),
        ({"ignore": ["x"]}, {"ignore": ["("]}, "bad regex"),
    ],
)
def test_a_cached_check_never_answers_for_another_spec(
    tmp_path: Path, good: dict[str, Any], bad: dict[str, Any], problem: str
) -> None:
    expected, actual = _roots(tmp_path, 0)
    base = {"version": 1, "expected": expected, "actual": actual}
    assert prepare({**base, **good})[1] == []
    plan, problems = prepare({**base, **bad})
    assert plan is None and any(problem in p for p in problems), problems
    assert prepare({**base, **good})[1] == []  # and back


def test_a_callers_list_changed_afterwards_changes_nothing(tmp_path: Path) -> None:
    expected, actual = _roots(tmp_path, 0)
    (Path(expected) / "other.txt").write_text("2\n")
    files = ["out.txt"]
    raw = {"version": 1, "expected": expected, "actual": actual, "files": files}
    plan, _ = prepare(raw)
    assert plan is not None and plan.selected == ["out.txt"]
    files.append("other.txt")  # the first spec's list, now another spec
    plan, _ = prepare(raw)
    assert plan is not None and plan.selected == ["other.txt", "out.txt"]
    plan, _ = prepare({**raw, "files": ["out.txt"]})
    assert plan is not None and plan.selected == ["out.txt"]


def test_problems_keep_their_order(tmp_path: Path) -> None:
    plan, problems = prepare(
        {
            "version": 2,
            "expected": "",
            "actual": "x",
            "max_differences": -1,
            "nope": 1,
            "not_outputs": 3,
        }
    )
    assert plan is None
    assert [p.split(":")[0] for p in problems] == [
        "nope",
        "version",
        "expected",
        "max_differences",
        "not_outputs",
    ]


def test_each_side_of_a_small_equal_file_is_looked_at_and_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A suite case's exact comparison: one look and one read of each file (the actual file
    # was stat'ed twice, once to see it is there and once to see what it is). The actual
    # file is opened once, beneath its directory, and looked at through that descriptor:
    # no stat, no open by its path.
    expected, actual = _roots(tmp_path, 0)
    (Path(actual) / "out.txt").write_text("1\n")
    looked: list[str] = []
    opened: list[str] = []
    real_stat, real_open = os.stat, os.open

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        looked.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    def open_(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(engine.os, "stat", stat)
    monkeypatch.setattr(engine.os, "open", open_)
    verdict = compare_files(expected, actual, files=["out.txt"])
    assert verdict["ok"] and verdict["files"][0]["lines"] == 1
    assert [p for p in looked if p.endswith("out.txt")] == [os.path.join(expected, "out.txt")]
    assert sorted(opened) == sorted([os.path.join(expected, "out.txt"), actual, "out.txt"])


def test_plain_file_names_are_looked_up_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``files`` of plain names (a suite's ``files = ["out.txt"]``): each case looks at
    those names in its expected dir, no listing of it. A glob, a name that is a directory
    (its files are compared) or a missing name is answered from the listing, as before."""
    expected, actual = _roots(tmp_path, 0)
    (Path(expected) / "sub").mkdir()
    (Path(expected) / "sub" / "x.txt").write_text("2\n")
    (Path(expected) / "b.txt").write_text("3\n")
    for name, text in (("out.txt", "1\n"), ("sub/x.txt", "2\n"), ("b.txt", "3\n")):
        (Path(actual) / name).parent.mkdir(exist_ok=True)
        (Path(actual) / name).write_text(text)
    listed: list[str] = []
    real = spec.files_under

    def files_under(root: str, *args: Any) -> list[str]:
        listed.append(root)
        return real(root, *args)

    monkeypatch.setattr(spec, "files_under", files_under)
    verdict = compare_files(expected, actual, files=["sub/x.txt", "out.txt"])
    assert verdict["ok"] and [f["file"] for f in verdict["files"]] == ["out.txt", "sub/x.txt"]
    assert listed == []
    for files, compared in (
        (["*.txt"], ["b.txt", "out.txt"]),
        (["sub"], ["sub/x.txt"]),
        (["out.txt", "sub"], ["out.txt", "sub/x.txt"]),
    ):
        listed.clear()
        verdict = compare_files(expected, actual, files=files)
        assert verdict["ok"] and [f["file"] for f in verdict["files"]] == compared
        assert listed == [expected]
    listed.clear()
    verdict = compare_files(expected, actual, files=["out.txt", "gone.txt"])
    assert listed == [expected]
    assert verdict["errors"] == [
        f"files: 'gone.txt' matches nothing in {expected}; fix the name or add the file"
    ]


@pytest.mark.parametrize(
    ("mode", "actual_line"),
    [
        ({}, "step {i} energy {v} x"),  # same token count: numbers compared
        ({}, "step {i} energy {v} x y"),  # another token count: the line is one difference
        ({"mode": "text"}, "step {i} energy {v} x"),  # a differing line, at its column
    ],
)
def test_differences_past_the_listed_ones_are_counted_without_being_located(
    tmp_path, monkeypatch, mode, actual_line
):
    """A file of 300 differing lines is counted in full, but only the listed differences
    are located in their lines (spans, columns, context): that work for every counted
    line was most of a big compare's time (200,000 differing lines: 10 s, then 4.6 s)."""
    from assay.compare import lines

    located = []
    for name in ("at_token", "at_character"):
        real = getattr(lines.Located, name)

        def spy(self, *args, _real=real, _name=name):
            located.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(lines.Located, name, spy)
    (tmp_path / "e").mkdir()
    (tmp_path / "a").mkdir()
    count = 300
    (tmp_path / "e" / "out.txt").write_text(
        "".join(f"step {i} energy {i / 2} x\n" for i in range(count))
    )
    (tmp_path / "a" / "out.txt").write_text(
        "".join(actual_line.format(i=i, v=i / 2 + 1) + "\n" for i in range(count))
    )
    verdict = compare_files(str(tmp_path / "e"), str(tmp_path / "a"), **mode)
    (result,) = verdict["files"]
    listed = len(result["differences"])
    assert 0 < listed < count
    assert result["differing_lines"] == count
    assert len(located) <= listed  # what is shown, not what is counted


def test_a_pinned_actual_file_is_read_in_place_without_moving_its_offset(tmp_path: Path) -> None:
    """The actual file a comparison opened beneath the stage dir is read where it is (one
    positioned read): the descriptor the caller holds is left at its offset, and no
    other descriptor is made for the read (a duplicate shares, and so moved, the offset)."""
    path = tmp_path / "out.txt"
    path.write_bytes(b"value 2\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 3, os.SEEK_SET)
        with engine.pinned(str(path), fd):
            data = engine._read(str(path), 9)
        assert data == b"value 2\n"
        assert os.lseek(fd, 0, os.SEEK_CUR) == 3
    finally:
        os.close(fd)


def test_plain_file_names_are_looked_at_without_a_stat_of_the_expected_dir(
    tmp_path: Path, stat_spy: Callable[[], list[str]]
) -> None:
    """With ``files`` all plain names, each expected file's own look says the expected dir
    is one: the directory is not looked at again (one system call less per case). Where a
    name is not a file there, the directory's look decides, as before."""
    expected, actual = tmp_path / "expected", tmp_path / "actual"
    expected.mkdir()
    actual.mkdir()
    (expected / "out.txt").write_text("value 2\n")
    (actual / "out.txt").write_text("value 2\n")
    looked = stat_spy()
    verdict = compare_files(str(expected), str(actual), files=["out.txt"])
    assert verdict["ok"], verdict
    assert str(expected) not in looked
    assert str(expected / "out.txt") in looked
    # A file as the expected side: the names' looks fail, the file's own look refuses files.
    plan, problems = prepare(
        {
            "version": 1,
            "expected": str(expected / "out.txt"),
            "actual": str(actual),
            "files": ["out.txt"],
        }
    )
    assert plan is None
    assert problems == ["files, complete: only for an expected directory; remove them"]
    # A missing name: the listing's problem, as before.
    verdict = compare_files(str(expected), str(actual), files=["gone.txt"])
    assert verdict["errors"] == [
        f"files: 'gone.txt' matches nothing in {expected}; fix the name or add the file"
    ]


def test_long_differing_lines_past_the_listed_ones_are_not_located(tmp_path, monkeypatch):
    """Text mode, lines longer than a piece (read again to find the column): only the
    listed differences are located; the rest are counted."""
    from assay.compare import text
    from assay.compare.tokens import PIECE

    located = []
    real = text.locate_character

    def spy(*args):
        located.append(args[-1])
        return real(*args)

    monkeypatch.setattr(text, "locate_character", spy)
    (tmp_path / "e").mkdir()
    (tmp_path / "a").mkdir()
    count, long = 6, "x" * (PIECE + 10)
    (tmp_path / "e" / "out.txt").write_text("".join(f"{long}{i}\n" for i in range(count)))
    (tmp_path / "a" / "out.txt").write_text("".join(f"{long}{i + 1}\n" for i in range(count)))
    verdict = compare_files(
        str(tmp_path / "e"), str(tmp_path / "a"), mode="text", max_differences=2
    )
    (result,) = verdict["files"]
    assert result["differing_lines"] == count
    assert len(result["differences"]) == 2
    assert len(located) == 2
