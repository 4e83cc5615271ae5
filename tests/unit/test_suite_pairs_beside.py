"""Pairs with files beside each input (``beside = ["{stem}.opts"]``): markdown2 keeps each
case's options in ``x.opts`` beside ``x.text`` and ``x.html``, only for some cases. What the
loader makes of them, and each mistake said once, naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_suite_pairs import _prepare, _suite, problems


@pytest.fixture
def home(tmp_path: Path) -> Path:
    tests = tmp_path / "tests"
    tests.mkdir()
    for stem in ("emphasis", "lists", "links"):
        (tests / f"{stem}.txt").write_text(f"*{stem}*\n")
        (tests / f"{stem}.html").write_text(f"<p><em>{stem}</em></p>\n")
    (tests / "lists.opts").write_text('{"extras": ["cuddled-lists"]}\n')
    (tests / "links.opts").write_text('{"safe_mode": True}\n')
    (tests / "links.tags").write_text("safe_mode\n")
    return tmp_path


def _cases(home: Path, **extra: object) -> dict[str, tuple[str, ...]]:
    prepared = _prepare(home, _suite(**extra))
    assert [str(p) for p in prepared.problems] == []
    cases = (c.variant.params["case"] for c in prepared.plan.cases)
    return {c.name: tuple(str(p.relative_to(home)) for p in c.beside) for c in cases}


def test_the_files_beside_an_input_that_exist_are_its_own(home):
    assert _cases(home, beside=["{stem}.opts", "{stem}.tags"]) == {
        "emphasis": (),
        "links": ("tests/links.opts", "tests/links.tags"),
        "lists": ("tests/lists.opts",),
    }


def test_without_beside_a_pair_has_none(home):
    assert set(_cases(home).values()) == {()}


def test_a_glob_that_also_matches_the_files_beside_takes_the_inputs_alone(home):
    """tests/* matches x.opts and x.tags too: each belongs to an input, no input itself."""
    assert _cases(home, cases="tests/*", beside=["{stem}.opts", "{stem}.tags"]) == {
        "emphasis": (),
        "links": ("tests/links.opts", "tests/links.tags"),
        "lists": ("tests/lists.opts",),
    }


def test_a_file_beside_may_be_one_for_every_input(home):
    (home / "common").mkdir()
    (home / "common" / "defaults.cfg").write_text("x\n")
    found = _cases(home, beside=["../common/defaults.cfg"])
    assert set(found.values()) == {("common/defaults.cfg",)}


@pytest.mark.parametrize(
    "pattern", ["{stem}.{ext}", "{0}.opts", "{stem!r}.opts", "/etc/{stem}", ""]
)
def test_an_unusable_name_is_refused(home, pattern):
    (found,) = problems(home, _suite(beside=[pattern]))
    assert "suite.beside[0]: " in found and "{stem} and {name}" in found


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("{name}", "the name of the input"), ("../tests/{stem}.html", "the name of the expected")],
)
def test_a_file_beside_with_the_inputs_or_outputs_name_is_refused(home, pattern, why):
    (found,) = problems(home, _suite(beside=[pattern]))
    assert "suite.beside: " in found and why in found and "name it otherwise" in found


def test_a_file_beside_named_like_assays_own_is_refused(home):
    (home / "tests" / "assay-lists.opts").write_text("x\n")
    (found,) = problems(home, _suite(beside=["assay-{stem}.opts"]))
    assert "suite.beside: " in found and "assay's own" in found


def test_a_directory_beside_is_refused(home):
    (home / "tests" / "lists.d").mkdir()
    (found,) = problems(home, _suite(beside=["{stem}.d"]))
    assert "suite.beside: " in found and "is not a file" in found


def test_beside_is_for_pairs_alone(home):
    (found,) = problems(home, {"suite": {"command": "true", "cases": "tests", "beside": ["x"]}})
    assert "suite.beside: " in found and "a suite of pairs of files" in found
