"""How each built-in field of a test is checked, read from ``-S`` text, and decoded; the
declarations in :mod:`assay.define.fields` name these."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from assay.define.params import convert_text
from assay.durations import Duration
from assay.shell import valid_name

MAX_COUNT = 2**31 - 1
"""The largest count (nodes, tasks, CPUs...) accepted: Slurm's own limit; beyond it an
integer of any length from TOML or Python would reach Slurm, SQLite and arithmetic."""

Check = Callable[[Any], "str | None"]
"""A field's check: ``None`` when a value is acceptable, else what is wrong (without the
field's name, which the caller puts in front)."""


# --- checks ----------------------------------------------------------------------------------


def _is_str_list(value: Any, *, allow_str: bool = True) -> bool:
    if isinstance(value, str):
        return allow_str
    return isinstance(value, Iterable) and all(isinstance(v, str) for v in value)


def check_strs(value: Any) -> str | None:
    return None if _is_str_list(value) else f"must be a string or a list of strings, got {value!r}"


def check_places(value: Any) -> str | None:
    """``systems`` and ``environments``: strings, none of them ReFrame's ``+feature`` or
    ``%key=value`` selector, which as a glob would match no name and leave the test
    nowhere to run, silently."""
    problem = check_strs(value)
    if problem:
        return problem
    for pattern in [value] if isinstance(value, str) else value:
        if pattern.startswith(("+", "%")):
            return (
                f"pattern {pattern!r} is ReFrame's syntax for a feature (or an extra); assay's "
                "systems and environments have no features: list their names, globs allowed, "
                "e.g. ['gnu', 'clang*'] (docs/from-reframe.md)"
            )
    return None


def source_globs(globs: Iterable[str]) -> list[str]:
    """``writable`` / ``exclude_sources`` as staging matches them: paths inside each source,
    ``./`` taken away (``./data.txt`` is ``data.txt``). Raises ValueError, naming the glob,
    for one that can match no such path: absolute, with ``..``, or empty."""
    used = []
    for glob in [globs] if isinstance(globs, str) else globs:
        parts = [p for p in glob.split("/") if p not in ("", ".")]
        fix = "globs are relative to each source, such as 'data.txt' or 'out/*'"
        if glob.startswith("/"):
            raise ValueError(f"{glob!r} is absolute; {fix}")
        if ".." in parts:
            raise ValueError(f"{glob!r} holds '..', which no path inside a source does; {fix}")
        if not parts:
            raise ValueError(f"{glob!r} is empty: it names nothing; {fix} ('*' for all)")
        used.append("/".join(parts) + ("/" if glob.endswith("/") else ""))
    return used


def check_globs(value: Any) -> str | None:
    problem = check_strs(value)
    if problem is None:
        try:
            source_globs(value)
        except ValueError as exc:
            return f"has a glob that can match nothing: {exc}"
    return problem


def check_opt_strs(value: Any) -> str | None:
    return None if value is None else check_strs(value)


def check_tags(value: Any) -> str | None:
    if isinstance(value, str):
        return f"must be a set of strings, e.g. {{{value!r}}}, got the string {value!r}"
    if not _is_str_list(value):
        return f"must be a set of strings, got {value!r}"
    for tag in value:
        try:
            tag.encode()
        except UnicodeEncodeError:  # a lone surrogate: no report, database or XML holds it
            return f"has the tag {tag!r}, which is not UTF-8 text; give it as text"
    return None


def check_opt_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else f"must be a string, got {value!r}"


def check_env(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"must be a dict of variable names to values, got {value!r}"
    for key, val in value.items():
        # (bash's rule, which the job script's export applies: ASCII letters, digits and _;
        # str.isalnum also takes "Ä", which then failed the case at run time)
        if not isinstance(key, str) or not valid_name(key):
            return f"has an invalid variable name {key!r} (ASCII letters, digits and _ only)"
        if not isinstance(val, str | int | float) or isinstance(val, bool):
            return f"value of {key!r} must be a string or number, got {val!r}"
    return None


def _not_text(value: Any) -> str | None:
    """The first string of ``value`` (a string, or the strings of a list or of a dict's
    values) that UTF-8 cannot encode: one holding a lone surrogate."""
    if isinstance(value, Mapping):
        value = list(value.values())
    for one in [value] if isinstance(value, str) else value:
        if isinstance(one, str):
            try:
                one.encode()
            except UnicodeEncodeError:
                return one
    return None


def shell_text(check: Check) -> Check:
    """``check``, then: no string of the value holds a lone surrogate (a file name in another
    encoding, as ``os.listdir`` gives it). Such a string reaches the job script, which is
    UTF-8 text: before, the run stage failed with the raw codec error, naming no field."""

    def checked(value: Any) -> str | None:
        problem = check(value)
        if problem is not None or value is None:
            return problem
        bad = _not_text(value)
        if bad is None:
            return None
        return (
            f"has {bad!r}, which is not UTF-8 text (a file name in another encoding, as "
            "os.listdir gives it), and a job script is UTF-8 text; give it as text: name such "
            "a file with a shell glob, or rename it"
        )

    return checked


def check_exit_codes(value: Any) -> str | None:
    if value is None or value == "nonzero":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return not_exit_codes([value], field=True)
    if isinstance(value, str):
        return f'must be an exit code, a set of exit codes, "nonzero" or None; got {value!r}'
    if isinstance(value, Iterable) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        if not list(value):
            return (
                "is empty: it accepts no exit code, so every case would fail; give the codes "
                'that pass (0 by default), None to accept any or "nonzero"'
            )
        return not_exit_codes(value, field=True)
    return (
        'must be an exit code, a set of exit codes, "nonzero" (any but 0) or None to accept '
        f"any; got {value!r}"
    )


def not_exit_codes(codes: Iterable[int], *, field: bool = False) -> str | None:
    """Why ``codes`` cannot all be exit codes (a list past 255 fails every case); with
    ``field``, worded to follow the field's name."""
    wrong = sorted(c for c in codes if c > 255)
    if not wrong:
        return None
    head = f"holds {wrong[0]}, which" if field else f"{wrong[0]}"
    return (
        f"{head} is no exit code: a process exits with 0 to 255 (a shell reports a "
        "program killed by signal N as 128+N)"
    )


def check_skip_exit_codes(value: Any) -> str | None:
    """``skip_exit_codes``: a list (set) of exit codes 1 to 255 (0 would skip every run
    that passes)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return f"must be a list of exit codes, such as [77]; got {value!r}"
    codes = list(value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in codes):
        return f"must be a list of exit codes (integers), such as [77]; got {value!r}"
    if 0 in codes:
        return (
            "holds 0, the exit code of a run that passes: every such run would be "
            'skipped; give the codes that mean "skipped", such as [77]'
        )
    if any(c < 0 for c in codes):
        return f"holds {min(codes)}, which is no exit code: a process exits with 0 to 255"
    return not_exit_codes(codes, field=True)


def skip_overlap(accepted: Any, skip: Iterable[int]) -> list[int]:
    """The codes of ``skip_exit_codes`` that ``exit_codes`` accepts as well: a run that
    exits with one of them would both pass and skip."""
    return sorted(c for c in set(skip) if exit_code_accepted(accepted, c))


def describe_overlap(accepted: Any, both: list[int], keys: tuple[str, str]) -> str:
    """The load error for codes in both ``exit_codes`` and ``skip_exit_codes`` (``keys``:
    how the two are named where they were set)."""
    codes = " and ".join(str(c) for c in both)
    said = ""
    if accepted in (None, "any"):
        said = " (which accepts any)"
    elif accepted == "nonzero":
        said = ' ("nonzero")'
    return (
        f"exit code {codes} is in both {keys[0]}{said} and {keys[1]}: a run that exits "
        "with it would both pass and skip; take it out of one of them"
    )


def parse_exit_codes(text: str) -> list[int]:
    """``-S skip_exit_codes=77,5`` (empty: none)."""
    return [int(convert_text(t.strip(), int)) for t in text.split(",") if t.strip()]


def exit_code_accepted(accepted: Any, status: int | None) -> bool:
    """Whether a run's ``status`` (an exit code; minus the signal that killed it) passes
    ``exit_codes``: None accepts anything, "nonzero" an exit code other than 0."""
    if accepted is None:
        return True
    if accepted == "nonzero":
        return status is not None and status > 0
    codes = {accepted} if isinstance(accepted, int) else set(accepted)
    return status in codes


def describe_accepted(accepted: Any) -> str:
    """What ``exit_codes`` accepts, for a failure's reason."""
    if accepted == "nonzero":
        return "a non-zero exit code"
    codes = {accepted} if isinstance(accepted, int) else set(accepted)
    return "exit code " + " or ".join(str(c) for c in sorted(codes))


def suite_exit_codes(value: Any) -> Any:
    """A suite file's ``exit_codes`` (a list, "any" or "nonzero") as the field's value."""
    if value == "any":
        return None
    return value if value == "nonzero" else set(value)


def check_count(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            if value <= MAX_COUNT:
                return None
            return f"must be at most {MAX_COUNT}, got an integer of {len(str(value))} digits"
        return f"must be an integer >= {minimum} or None, got {value!r}"

    return check


def check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be True or False, got {value!r}"


def check_duration(value: Any) -> str | None:
    if value is None:
        return None
    try:
        Duration(value)
    except ValueError as exc:
        return str(exc)
    return None


def check_artifacts(value: Any) -> str | None:
    """The check of ``artifacts`` (also read by the loader before it looks at the layers)."""
    if not isinstance(value, Mapping):
        return f"must be a dict of names to archive or directory paths, got {value!r}"
    for name, layers in value.items():
        if not isinstance(name, str) or not name.replace("_", "a").isalnum() or name[:1].isdigit():
            return f"has an invalid name {name!r} (letters, digits and _; it becomes $ASSAY_NAME)"
        if not _is_str_list(layers) or not layers:
            return f"{name!r} must be a path or a list of paths (base first, overlays after)"
    return None


def check_depends(value: Any) -> str | None:
    from assay.define.test import Test  # a cycle: spec.test imports the field table to define Test

    items = [value] if isinstance(value, str | type) else value
    if not isinstance(items, Iterable):
        return f"must be a list of test names or classes, got {value!r}"
    for item in items:
        if isinstance(item, str) or (isinstance(item, type) and issubclass(item, Test)):
            continue
        return f"must name tests (strings) or Test classes, got {item!r}"
    return None


def check_exclude(value: Any) -> str | None:
    if isinstance(value, Iterable) and all(isinstance(v, Mapping) for v in value):
        return None
    return f"must be a list of dicts of parameter values, got {value!r}"


def checked_elsewhere(value: Any) -> str | None:
    """``references``: checked against the test's metrics (definition.py)."""
    return None


# --- -S parsers and decoders -----------------------------------------------------------------


def parse_count(text: str) -> int:
    """A count of 1 or more (tasks, nodes...)."""
    value = convert_text(text, int)
    if value < 1:
        raise ValueError(f"{text!r} must be 1 or more")
    return int(value)


def parse_int(text: str) -> int:
    """An integer; the field's check bounds it."""
    return int(convert_text(text, int))


def parse_flag(text: str) -> bool:
    """``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``."""
    return bool(convert_text(text, bool))


def decode_duration(value: Any) -> Duration | None:
    """A checked duration field's value as seconds."""
    return None if value is None else Duration(value)


def same(value: Any) -> Any:
    """A suite value that is already the field's value."""
    return value
