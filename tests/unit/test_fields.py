"""The built-in fields of a test are declared once (assay.define.fields); the checks, ``-S``,
``@variant_fields``, suite files and the docs' table all follow that declaration."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

import assay
from assay.define import field_docs, suite_schema
from assay.define.fields import FIELDS, PARSERS, SUITE_KEYS, VARIANT_FIELDS
from assay.define.suite import compile_suite
from assay.durations import Duration
from assay.errors import UsageError
from assay.overrides import resolve
from tests.conftest import ROOT

DOC = ROOT / "docs" / "test-api.md"


class Plain(assay.Test):
    command = "true"


# --- every declared field is a real, checked field ------------------------------------------


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_field_is_an_attribute_of_test_with_its_default(name: str) -> None:
    assert getattr(assay.Test, name) == FIELDS[name].default
    assert name in typing.get_type_hints(assay.Test)


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_field_refuses_a_value_of_no_sensible_type(name: str) -> None:
    cls = type("Odd", (assay.Test,), {"command": "true", name: object()})
    if name == "command":
        cls = type("Odd", (assay.Test,), {name: object()})
    assert any(e.startswith(f"{name} ") for e in cls._assay.errors), cls._assay.errors


@pytest.mark.parametrize("name", sorted(VARIANT_FIELDS))
def test_variant_fields_may_set_exactly_the_per_variant_fields(name: str) -> None:
    value = FIELDS[name].default

    class Varying(assay.Test):
        command = "true"
        size = assay.parameter([1])

        @assay.variant_fields
        def per_size(size: int) -> dict[str, Any]:
            return {name: value}

    assert Varying._assay.errors == []
    assert Varying._assay.fields_for((1,)) == {name: value}


def test_variant_fields_refuse_a_field_that_is_not_per_variant() -> None:
    class Varying(assay.Test):
        command = "true"
        size = assay.parameter([1])

        @assay.variant_fields
        def per_size(size: int) -> dict[str, Any]:
            return {"sources": ["elsewhere"]}

    with pytest.raises(ValueError, match="cannot vary per variant; allowed: "):
        Varying._assay.fields_for((1,))


def test_variant_fields_may_give_every_variant_its_command(write, assay_cli) -> None:
    # A suite of many cases in one file (jq.test: program, input, expected outputs; its
    # %%FAIL cases are run another way): the command is per variant, the class has none.
    # It was refused at load ("command is not set") though `command` is per variant.
    write(
        "test_cases.py",
        """
        import assay


        class Cases(assay.Test):
            n = assay.parameter([1, 2])

            @assay.variant_fields
            def by_n(n):
                return {"command": "echo one" if n == 1 else "echo two; exit 3"}

            def sanity(self, out):
                assert out.stdout.strip() == ("one" if self.n == 1 else "two")
        """,
    )
    result = assay_cli("run", "test_cases.py", "--plain")
    assert "Cases[n=1]" in result.stdout and "Cases[n=2]" in result.stdout, result
    assert "1 passed, 1 failed" in result.stdout, result
    assert "exit code 3 (expected exit code 0)" in result.stdout, result


def test_a_variant_without_a_command_is_a_load_problem_naming_it(write, assay_cli) -> None:
    write(
        "test_half.py",
        """
        import assay


        class Half(assay.Test):
            n = assay.parameter([1, 2])

            @assay.variant_fields
            def by_n(n):
                return {"command": "true"} if n == 1 else {"tags": {"two"}}
        """,
    )
    result = assay_cli("list", "test_half.py")
    assert result.code == 1, result
    assert (
        "test_half.py:4: @variant_fields by_n gave no command for n=2, and the class sets "
        "none: return a 'command' for every variant, or give the class a command"
    ) in result.stderr, result
    assert "Traceback" not in result.stderr


def test_without_variant_fields_a_missing_command_is_still_a_class_error() -> None:
    class NoCommand(assay.Test):
        n = assay.parameter([1])

    assert any(e.startswith("command is not set") for e in NoCommand._assay.errors)


_LISTS = ("skip_exit_codes",)  # (-S NAME=2 sets them to [2])


@pytest.mark.parametrize(("name", "text"), [(n, "2") for n in PARSERS if n != "exclusive"])
def test_s_sets_the_fields_declared_settable(name: str, text: str) -> None:
    value = resolve([Plain], [f"{name}={text}"])["Plain"][name]
    assert FIELDS[name].check(value) is None
    assert value == ([2] if name in _LISTS else 2)


def test_s_sets_several_skip_exit_codes() -> None:
    value = resolve([Plain], ["skip_exit_codes=77, 5"])["Plain"]["skip_exit_codes"]
    assert value == [77, 5]
    assert resolve([Plain], ["skip_exit_codes="])["Plain"]["skip_exit_codes"] == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0", "skip_exit_codes: holds 0, the exit code of a run that passes"),
        ("300", "skip_exit_codes: holds 300, which is no exit code"),
        ("seventy", "skip_exit_codes: 'seventy' is not an integer"),
    ],
)
def test_s_refuses_bad_skip_exit_codes(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        resolve([Plain], [f"skip_exit_codes={text}"])


@pytest.mark.parametrize("name", [n for n in FIELDS if n not in PARSERS])
def test_s_refuses_the_fields_not_declared_settable(name: str) -> None:
    with pytest.raises(UsageError, match=f"no loaded test has a variable {name!r}"):
        resolve([Plain], [f"{name}=1"])


def test_s_checks_a_value_as_the_class_would() -> None:
    # It once took gpus_per_node=-1, which no class may say.
    with pytest.raises(UsageError) as info:
        resolve([Plain], ["gpus_per_node=-1"])
    assert "Plain.gpus_per_node expects gpus_per_node: must be an integer >= 0" in str(info.value)


# --- suite files ----------------------------------------------------------------------------

# [suite] keys named like a test field that are not simply that field.
_NOT_A_FIELD = {
    "build": "an archive or directory: becomes the artifact 'build' with the overlays",
    "references": "a table per metric: becomes assay.ref(...) objects",
    "scaling": "a table of sizes: becomes the NAME-scaling test, whose field names the size",
}


def test_the_suite_schema_has_every_declared_suite_key() -> None:
    hints = typing.get_type_hints(suite_schema.Body, include_extras=True)
    for key, suite_key in SUITE_KEYS.items():
        assert key in hints, f"{suite_key.field} declares suite key {key!r}; Body has none"
        # The suite's default, made into the field's value, is acceptable to the field.
        default = _struct_default(suite_schema.Body, key)
        if default is not None:
            assert FIELDS[suite_key.field].check(suite_key.to_field(default)) is None


def test_every_suite_key_named_like_a_field_is_declared() -> None:
    for key in suite_schema.Body.__struct_fields__:
        if key in FIELDS and key not in _NOT_A_FIELD:
            assert key in SUITE_KEYS, f"[suite] {key} sets field {key!r}: declare it in fields.py"


def test_a_suite_sets_every_declared_field_from_its_key(tmp_path: Path) -> None:
    (tmp_path / "cases" / "c1").mkdir(parents=True)
    # key: (as the suite file says it, the field's value in the compiled class)
    values: dict[str, tuple[Any, Any]] = {
        "command": ("run it", "run it"),
        "tags": (["t"], {"t"}),
        "partitions": (["here:*"], ["here:*"]),
        "environments": (["gnu"], ["gnu"]),
        "env": ({"A": "1"}, {"A": "1"}),
        "tasks": (2, 2),
        "tasks_per_node": (2, 2),
        "cpus_per_task": (3, 3),
        "nodes": (1, 1),
        "exclusive": (True, True),
        "exit_codes": ([0, 3], {0, 3}),
        "skip_exit_codes": ([77], [77]),
        "depends_on": (["Other"], ["Other"]),
        "prerun": (["echo pre"], ["echo pre"]),
        "postrun": (["echo post"], ["echo post"]),
        "keep_files": (["*.log"], ["*.log"]),
        "writable": (["out.txt"], ["out.txt"]),
        "time_limit": ("2m", Duration(120)),
        "code_time_limit": ("90s", Duration(90)),
    }
    assert set(values) == set(SUITE_KEYS)
    path = tmp_path / "s.suite.toml"
    written = {key: said for key, (said, _) in values.items()}
    path.write_bytes(_toml({"suite": {"cases": "cases/*", **written}}))
    (cls,), problems = compile_suite(path)
    assert problems == []
    for key, (_, expected) in values.items():
        value = getattr(cls, SUITE_KEYS[key].field)
        assert value == expected and type(value) is type(expected), key


def _struct_default(struct: type[msgspec.Struct], key: str) -> Any:
    info = msgspec.inspect.type_info(struct)
    (field,) = (f for f in info.fields if f.name == key)  # type: ignore[attr-defined]
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return None


def _toml(doc: dict[str, Any]) -> bytes:
    from tests.unit.toml_fuzz import dumps

    return dumps(doc).encode()


# --- the docs' table ------------------------------------------------------------------------


def test_the_docs_table_of_fields_is_the_declarations() -> None:
    assert field_docs.current_table(DOC.read_text()) == field_docs.render(), (
        "docs/test-api.md is out of date: run python -m assay.define.field_docs"
    )


def test_the_table_lists_every_field_once() -> None:
    rows = [line for line in field_docs.render().splitlines() if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    assert names == [*FIELDS, "abstract"]


def test_the_docs_table_is_rewritten_by_one_command(tmp_path: Path) -> None:
    stale = tmp_path / "test-api.md"
    text = DOC.read_text()
    stale.write_text(text.replace("| `tags` |", "| `tagz` |"))
    command = [sys.executable, "-m", "assay.define.field_docs"]
    checked = subprocess.run([*command, "--check", str(stale)], capture_output=True, text=True)
    assert checked.returncode == 1 and "out of date" in checked.stderr
    wrote = subprocess.run([*command, str(stale)], capture_output=True, text=True)
    assert wrote.returncode == 0, wrote.stderr
    assert stale.read_text() == text
    again = subprocess.run([*command, "--check", str(stale)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
