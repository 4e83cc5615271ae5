"""Cases that share a reason (to fail, to be skipped), gathered into one entry each.

A suite whose command is wrong fails every case with the same reason (Pygments' 672
example files: 672 identical lines). Reasons often differ only by the case itself: its name,
a parameter's value, its stage dir in a path. Those parts are taken out (``<name>``,
``<case>`` for the parameter ``case``, ``<stage dir>``) before reasons are compared, so
``cannot open cases/a.txt`` and ``cannot open cases/b.txt`` of the cases ``case=a`` and
``case=b`` are one reason, ``cannot open cases/<case>.txt``. A reason that
:data:`GROUP_AT` cases or more share is one entry; fewer stay one entry per case, with
their own reason, as they read without grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assay.results.model import CaseResult

GROUP_AT = 3
"""Cases sharing a reason that make one entry: two read as well one per case."""

MIN_VALUE = 3
"""A parameter value shorter than this stays in a reason (``1`` would take the 1 out of
``exit code 1``)."""


@dataclass(frozen=True)
class Group:
    """Cases with one reason: ``reason`` is the first case's own when they are one case or
    their reasons are equal, else the shared pattern (``<name>`` ...)."""

    reason: str
    results: list[CaseResult]

    @property
    def first(self) -> CaseResult:
        return self.results[0]


def own_parts(result: CaseResult) -> list[tuple[str, str]]:
    """(text, placeholder) of what is the case's own: dirs, name, variant, parameter values;
    the longest first (a stage dir holds the name)."""
    parts = [
        (result.stage_dir, "<stage dir>"),
        (result.output_dir, "<output dir>"),
        (result.remote_dir, "<remote dir>"),
        (result.name, "<name>"),
        (result.variant, "<variant>"),
    ]
    parts += [(value, f"<{name}>") for name, value in result.params.items()]
    found = [(t, p) for t, p in parts if t and len(t) >= MIN_VALUE]
    return sorted(found, key=lambda part: -len(part[0]))


def pattern(result: CaseResult, reason: str) -> str:
    """``reason`` with the case's own parts (:func:`own_parts`) as placeholders; each only
    where it stands apart (``7`` in ``17`` is not a value 7)."""
    # Each text becomes a private-use character first, a placeholder only at the end: a
    # later, shorter text (a value "name") is then never found inside an earlier placeholder.
    marks: dict[str, str] = {}
    for index, (text, placeholder) in enumerate(own_parts(result)):
        if text in reason:  # (most reasons hold none of them)
            mark = chr(_PRIVATE + index)
            marks[mark] = placeholder
            reason = _whole(reason, text, mark)
    for mark, placeholder in marks.items():
        reason = reason.replace(mark, placeholder)
    return reason


_PRIVATE = 0xF0000
"""The first of Unicode's supplementary private-use characters (65,534 of them): no
reason holds one."""


_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _whole(reason: str, text: str, placeholder: str) -> str:
    """``reason`` with ``text`` replaced where no word goes on past its ends. (Found with
    str.find, not a regular expression: each case's texts are its own, and an expression
    compiled per case and text was most of the cost of a summary of 672 failures.)"""
    # (an edge of a word only where the text has one: a path, a name ending in "]")
    check_before, check_after = text[0] in _WORD, text[-1] in _WORD
    out, start, size = [], 0, len(text)
    while (at := reason.find(text, start)) >= 0:
        end = at + size
        if (check_before and at and reason[at - 1] in _WORD) or (
            check_after and end < len(reason) and reason[end] in _WORD
        ):
            out.append(reason[start : at + 1])
            start = at + 1
            continue
        out += [reason[start:at], placeholder]
        start = end
    out.append(reason[start:])
    return "".join(out)


def group(results: Sequence[CaseResult], reason_of: Callable[[CaseResult], str]) -> list[Group]:
    """``results`` as entries, in the order of each entry's first case: a reason (as
    :func:`pattern` leaves it) that :data:`GROUP_AT` or more share is one entry; the others
    are one entry per case."""
    by_pattern: dict[str, list[CaseResult]] = {}
    for result in results:
        by_pattern.setdefault(pattern(result, reason_of(result)), []).append(result)
    out: list[Group] = []
    for shared, members in by_pattern.items():
        if len(members) < GROUP_AT:
            continue
        reasons = {reason_of(r) for r in members}
        out.append(Group(reasons.pop() if len(reasons) == 1 else shared, members))
    grouped = {id(r) for g in out for r in g.results}
    out += [Group(reason_of(r), [r]) for r in results if id(r) not in grouped]
    order = {id(r): i for i, r in enumerate(results)}
    out.sort(key=lambda g: order[id(g.first)])
    return out


def names(
    results: Sequence[CaseResult], shown: int | None, label: Callable[[CaseResult], str]
) -> str:
    """The cases' names, comma-separated: the first ``shown`` of them and how many more
    (``None``: all)."""
    listed = [label(r) for r in (results if shown is None else results[:shown])]
    rest = len(results) - len(listed)
    return ", ".join(listed) + (f" and {rest} more" if rest else "")
