"""``writable`` and ``exclude_sources`` globs name paths inside each source: one that can
never match such a path (absolute, with ``..``, empty) is an error, not silently nothing;
``./x`` means ``x``."""

from __future__ import annotations

import pytest

import assay
from assay.define.field_checks import source_globs
from assay.store.stage import matches


def _errors(**fields: object) -> list[str]:
    # A source that is there ("." beside this file): a missing one is an error of its own.
    cls = type("T", (assay.Test,), {"command": "true", "sources": ".", **fields})
    return list(cls._assay.errors)


@pytest.mark.parametrize("field", ["writable", "exclude_sources"])
@pytest.mark.parametrize(
    ("glob", "said"),
    [
        ("/abs/data.txt", "is absolute"),
        ("//data.txt", "is absolute"),
        ("../data.txt", "'..'"),
        ("sub/../../data.txt", "'..'"),
        ("", "empty"),
        ("./", "empty"),
    ],
)
def test_a_glob_that_can_match_nothing_is_an_error_naming_it(field, glob, said):
    (error,) = _errors(**{field: [glob]})
    assert error.startswith(f"{field} ") and repr(glob) in error and said in error, error
    assert "relative to each source" in error


@pytest.mark.parametrize("field", ["writable", "exclude_sources"])
def test_relative_globs_are_accepted(field):
    assert _errors(**{field: ["data.txt", "out/*", "./cfg/a.ini", "*"]}) == []


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (["./data.txt"], ["data.txt"]),
        ([".//cfg/./a.ini"], ["cfg/a.ini"]),
        (["out/", "*.dat"], ["out/", "*.dat"]),
    ],
)
def test_dot_slash_is_taken_away(given, used):
    assert source_globs(given) == used
    assert matches("data.txt", source_globs(["./data.txt"]))


def test_source_globs_raises_for_what_the_class_check_refuses():
    with pytest.raises(ValueError, match=r"'/etc/passwd' is absolute"):
        source_globs(["ok", "/etc/passwd"])
