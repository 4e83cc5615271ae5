"""How ``writable`` and ``exclude_sources`` name inputs (:func:`assay.store.stage.matches`):
compiled once per pattern list, it answers exactly as the glob-by-glob definition does."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from hypothesis import example, given, settings
from hypothesis import strategies as st

from assay.store.stage import matcher, matches


def _by_each_glob(path: str, patterns: Sequence[str]) -> bool:
    """The definition: a path is named by a glob, or lies below one."""
    return any(
        fnmatch.fnmatchcase(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns
    )


_PARTS = st.sampled_from(["a", "b", "in.txt", "expected", "x.csv", ".h", "a b", "é", "[", "]"])
_PATHS = st.lists(_PARTS, min_size=1, max_size=4).map("/".join)
_GLOBS = st.lists(
    st.sampled_from(["a", "b", "*", "?", "in.txt", "expected", "*.csv", "[ab]", "[!a]", "/", "**"]),
    min_size=1,
    max_size=4,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(path=_PATHS, patterns=st.lists(_GLOBS | _PATHS, max_size=4))
@example(path="expected/out.txt", patterns=["expected"])
@example(path="expected", patterns=["expected/"])
@example(path="a/b", patterns=["a/"])
@example(path="x", patterns=[""])
@example(path="in.txt", patterns=["in?txt", "[]"])
def test_the_compiled_patterns_answer_as_each_glob_does(path: str, patterns: list[str]) -> None:
    assert matches(path, patterns) == _by_each_glob(path, patterns)
    assert matcher(tuple(patterns))(path) == _by_each_glob(path, patterns)


def test_a_pattern_list_is_compiled_once():
    matcher.cache_clear()
    for path in ("in.txt", "expected/out.txt", "run.sh"):
        matches(path, ["expected", "*.log"])
    assert matcher.cache_info().misses == 1
