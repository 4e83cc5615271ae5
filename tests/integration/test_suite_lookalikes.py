"""Two suite cases whose names look the same (an accent precomposed in one, combining in the
other; a zero-width space) are refused at load, named with escapes: every report showed them
alike, so one's verdict could be read as the other's."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """\
[suite]
name = "u"
cases = "{cases}"
{expected}command = "true"
"""


@pytest.mark.parametrize(
    ("one", "two", "said"),
    [
        ("caf\u00e9", "cafe\u0301", "'caf\\xe9'"),
        ("mesh", "me\u200bsh", "'me\\u200bsh'"),
        ("\ufb01ne", "fine", "'\\ufb01ne'"),
    ],
    ids=["combining", "zero-width", "ligature"],
)
def test_case_directories_with_lookalike_names_are_refused(tmp_path, assay_cli, one, two, said):
    for name in (one, two):
        (tmp_path / "cases" / name).mkdir(parents=True)
    (tmp_path / "s.suite.toml").write_text(SUITE.format(cases="cases/*", expected=""))
    result = assay_cli("list", "s.suite.toml")
    assert result.code != 0, result
    assert "look the same" in result.stderr and said in result.stderr, result.stderr
    assert "rename one" in result.stderr


def test_input_files_with_lookalike_stems_are_refused_and_distinct_ones_load(
    tmp_path: Path, assay_cli
):
    tests = tmp_path / "t"
    tests.mkdir()
    for stem in ("caf\u00e9", "cafe\u0301", "tea"):
        (tests / f"{stem}.txt").write_text("x\n")
        (tests / f"{stem}.out").write_text("x\n")
    suite = SUITE.format(cases="t/*.txt", expected='expected = "{stem}.out"\n')
    (tmp_path / "s.suite.toml").write_text(suite)
    result = assay_cli("list", "s.suite.toml")
    assert result.code != 0 and "look the same" in result.stderr, result
    (tests / "cafe\u0301.txt").rename(tests / "coffee.txt")
    (tests / "cafe\u0301.out").rename(tests / "coffee.out")
    ok = assay_cli("list", "s.suite.toml")
    assert ok.code == 0, ok
    assert "u[case=caf\u00e9]" in ok.stdout and "u[case=coffee]" in ok.stdout
