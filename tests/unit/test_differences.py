"""The differences of a verdict as people read them: the sentence, both lines, a marker
under the first differing character, text as it is."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from assay.compare import compare_files
from assay.results.differences import describe_differences


def _verdict(tmp_path: Path, expected: str, actual: str, **spec: object) -> dict:
    (tmp_path / "e").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "e" / "out.event").write_text(expected)
    (tmp_path / "a" / "out.event").write_text(actual)
    return compare_files(str(tmp_path / "e"), str(tmp_path / "a"), **spec)


def test_both_lines_with_a_marker_under_the_first_differing_character(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "+STR\n=VAL :anchor\\b\n", "+STR\n=VAL :a\\b\n")
    assert describe_differences(verdict).splitlines() == [
        "out.event: 1 value in 1 line differs",
        "  line 2, token 4: expected 'anchor', got 'a'",
        "    expected: =VAL :anchor\\b",
        "    actual:   =VAL :a\\b",
        "                     ^",
    ]


def test_a_marker_under_each_line_when_the_places_differ(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "x  1.5 y\n", "x 1.0 y\n")
    lines = describe_differences(verdict).splitlines()
    assert lines[2:] == [
        "    expected: x  1.5 y",
        "                   ^",
        "    actual:   x 1.0 y",
        "                  ^",
    ]
    assert lines[1] == (
        "  line 1, token 2: expected 1.5, got 1.0 (abs error 0.5 > atol 0, rel error 0.333 > "
        "rtol 0)"
    )


def test_the_first_missing_line_is_shown(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "a\nb\n+DOC\n-DOC\n", "a\nb\n")
    assert describe_differences(verdict).splitlines() == [
        "out.event: 2 lines differ",
        "  line 3: actual ends after line 2; expected has 2 more lines, the first: '+DOC'",
        "    expected: +DOC",
        "    actual:   (no such line)",
    ]


def test_control_characters_are_escaped_and_the_marker_follows(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "a\tb \x1b[1m 1\n", "a\tb \x1b[1m 2\n")
    lines = describe_differences(verdict).splitlines()
    assert lines[2:4] == ["    expected: a\\tb \\x1b[1m 1", "    actual:   a\\tb \\x1b[1m 2"]
    assert lines[4].index("^") == lines[3].index("2")


def test_long_lines_are_cut_to_the_width_around_the_marker(tmp_path: Path) -> None:
    start = " ".join(f"w{i}" for i in range(60))
    verdict = _verdict(tmp_path, f"{start} 1 tail tail\n", f"{start} 2 tail tail\n")
    lines = describe_differences(verdict).splitlines()
    expected, actual, marker = lines[2:]
    assert expected.startswith("    expected: ...") and len(expected) <= 14 + 66
    assert actual[marker.index("^")] == "2"


def test_wide_characters_take_two_cells_for_the_marker(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "名前 1\n", "名前 2\n")
    lines = describe_differences(verdict).splitlines()
    assert lines[-1].index("^") == len("    actual:   ") + 5  # two wide characters, a blank


def test_the_details_are_capped_and_say_so(tmp_path: Path) -> None:
    expected = "".join(f"v {i}\n" for i in range(40))
    verdict = _verdict(tmp_path, expected, expected.replace("v ", "v 1"))
    text = describe_differences(verdict, limit=10)
    assert len(text.splitlines()) == 10
    assert text.splitlines()[-1].startswith("... and ")


@pytest.mark.parametrize(
    ("expected", "actual", "spec"),
    [
        ("x" * 300 + "\n", "x" * 299 + "y\n", {}),  # one long line, cut around the mark
        ("x" * 300 + "\n", "x" * 299 + "y\n", {"mode": "text"}),
        ("a 1\n" + "b " * 200 + "\n", "a 1\n", {}),  # a long missing line
        ("a 1\n", "a 1\n" + "c " * 200 + "\n", {}),  # a long extra line
        ("w " * 200 + "\n", "w " * 199 + "\n", {}),  # long lines of other token counts
    ],
)
def test_a_verdict_holds_plain_strings_that_a_journal_can_encode(
    tmp_path: Path, expected: str, actual: str, spec: dict[str, object]
) -> None:
    """The engine marks a text it has cut (``Shown``, a str subclass); the mark must not
    reach the verdict: the runner's journal (msgspec) refuses str subclasses, and a case
    with a difference on a line over 200 characters ended the run with a traceback."""
    verdict = _verdict(tmp_path, expected, actual, **spec)
    assert not verdict["ok"]
    strings = _strings(verdict)
    assert any(len(s) > 100 for s in strings)  # the long line is shown, cut
    assert {type(s) for s in strings} == {str}
    msgspec.json.encode(verdict)


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*_strings(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
