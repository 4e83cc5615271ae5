"""Suite-file mistakes found by a third new-user pass (Python-Markdown's, docutils' and
Pygments' golden-file suites): each message says why the name is refused and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.suite_files import load_problems, make_home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def _problems(home: Path, text: str) -> list[tuple[int | None, str]]:
    return [(p.line, f"{p.key}: {p.message}") for p in load_problems(home, text)]


SUITE = '[suite]\ncases = "cases/*"\ncommand = "echo hi > out"\n'


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        # `-o {format}` of a Markdown converter: format is a method of assay.Test.
        (
            SUITE + 'variables = { format = "xhtml" }\n',
            4,
            "suite.variables.format: 'format' cannot be a variable name: assay.Test has a "
            "method or attribute of that name; rename it, such as 'format_'",
        ),
        (
            SUITE + "variables = { nodes = 2 }\n",
            4,
            "suite.variables.nodes: 'nodes' cannot be a variable name: it is a built-in test "
            "field (docs/test-api.md#fields); rename it, such as 'nodes_'",
        ),
        (
            SUITE + 'variables = { "out-dir" = "x" }\n',
            4,
            "suite.variables.out-dir: 'out-dir' cannot be a variable name: a name is an "
            "identifier (letters, digits and _, not starting with a digit), as {name} in a "
            "command is; rename it, such as 'out_dir'",
        ),
        (
            SUITE + '[suite.metrics.format]\nregex = "x: (\\\\d+)"\n',
            4,
            "suite.metrics.format: 'format' cannot be a metric name: assay.Test has a method "
            "or attribute of that name; rename it, such as 'format_'",
        ),
        (
            SUITE + "[[suite.sweep]]\nformat = [1, 2]\nmesh = [1]\n",
            5,
            "suite.sweep[0].format: 'format' cannot be a parameter name: assay.Test has a "
            "method or attribute of that name; rename it, such as 'format_'",
        ),
    ],
)
def test_a_name_assay_already_uses_says_so_and_how_to_rename_it(
    home: Path, text: str, line: int, said: str
) -> None:
    ((at, message),) = _problems(home, text)
    assert at == line
    assert message == said


def test_keys_without_the_suite_table_say_to_put_them_under_it(home: Path) -> None:
    """The first suite file a user writes from an example's middle lacks its [suite]."""
    text = 'cases = "cases/*"\ncommand = "echo hi > out"\n'
    ((_, message),) = _problems(home, text)
    assert message == (
        "(top level): unknown key 'cases'; allowed keys: suite; a suite file's keys are in "
        "its [suite] table: put a line [suite] above them"
    )
