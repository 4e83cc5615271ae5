"""Finding and importing test files; every failure reported with its file and line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.errors import UsageError
from assay.load import LoadProblem, find_files, load

Write = Callable[[str, str], Path]


@pytest.fixture(autouse=True)
def forget_imported_modules() -> Iterator[None]:
    """Loaded test files and their helpers must not leak into other tests."""
    before = set(sys.modules)
    path_before = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    assert sys.path == path_before, "load() must restore sys.path"


GOOD = """
import assay

class Hello(assay.Test):
    command = "echo hello"
"""


def only_problem(problems: list[LoadProblem]) -> LoadProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- finding files --------------------------------------------------------------------------


def test_find_files_skips_hidden_tool_dirs_and_non_tests(tmp_path: Path, write: Write) -> None:
    write("test_b.py", GOOD)
    write("sub/test_c.py", GOOD)
    write("sub/deeper/test_d.py", GOOD)
    write(".hidden/test_h.py", GOOD)
    write(".test_hidden.py", GOOD)
    write("__pycache__/test_p.py", GOOD)
    write("node_modules/test_n.py", GOOD)
    write("venv/test_v.py", GOOD)
    write(".venv/test_v.py", GOOD)
    write("build/test_build.py", GOOD)
    write("helper.py", "VALUE = 1\n")
    write("__init__.py", "import assay\n")
    write("notes.txt", "assay\n")
    write("data.pyc", "assay\n")
    found = find_files([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "sub/deeper/test_d.py",
        "sub/test_c.py",
        "test_b.py",
    ]


def test_find_files_follows_links_to_directories_and_skips_broken_ones(
    tmp_path: Path, write: Write
) -> None:
    """The walk reads each directory's entry types (no stat per entry) but still follows a
    link to a directory as ``Path.is_dir`` did; a broken link is no directory and no test."""
    write("real/test_r.py", GOOD)
    write("real/a.suite.toml", "[suite]\n")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    found = find_files([str(tmp_path)])
    # (each file once: reached first through the link, which sorts before real/)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "linked/a.suite.toml",
        "linked/test_r.py",
    ]


def test_find_files_does_not_walk_into_a_suites_case_directories(
    tmp_path: Path, write: Write
) -> None:
    """A suite's case directories (``suite.cases``) hold inputs and expected outputs: a
    Python input that mentions assay, or a suite file among them, is no test of the run.
    Directories the globs do not match (and other suites' cases) are walked as before."""
    write("s/a.suite.toml", '[suite]\ncases = ["cases/*/", "./more/c?"]\n')
    write("s/cases/c1/input.py", GOOD)  # an input of case c1, not a test file
    write("s/cases/c1/expected/x.suite.toml", "[suite]\n")
    write("s/cases/test_beside.py", GOOD)  # in cases/, not in a case directory
    write("s/more/c2/input.py", GOOD)
    write("s/more/c22/test_not_a_case.py", GOOD)
    write("s/other/test_o.py", GOOD)
    write("pairs/p.suite.toml", '[suite]\ncases = "*"\nexpected = "{stem}.out"\n')
    write("pairs/sub/test_p.py", GOOD)  # a suite of pairs: its cases are files
    write("deep/d.suite.toml", '[suite]\ncases = "**/c"\n')
    write("deep/x/c/test_d.py", GOOD)  # "**": not followed by the walk, walked as before
    write("bad/b.suite.toml", "[suite\n")
    write("bad/c/test_b.py", GOOD)  # an unreadable suite skips nothing (its compile says why)
    found = find_files([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "bad/b.suite.toml",
        "bad/c/test_b.py",
        "deep/d.suite.toml",
        "deep/x/c/test_d.py",
        "pairs/p.suite.toml",
        "pairs/sub/test_p.py",
        "s/a.suite.toml",
        "s/cases/test_beside.py",
        "s/more/c22/test_not_a_case.py",
        "s/other/test_o.py",
    ]


def test_a_suite_file_nested_past_the_parsers_depth_is_walked_as_before(
    tmp_path: Path, write: Write
) -> None:
    """tomllib recurses once per nested array: a hostile suite file of 100,000 '[' raised
    RecursionError out of the test-file search (an internal error with a traceback). Its
    directory is walked as before, and its compile says what is wrong with it."""
    write("h/h.suite.toml", "x = " + "[" * 100_000 + "\n")
    write("h/c/test_h.py", GOOD)
    found = find_files([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "h/c/test_h.py",
        "h/h.suite.toml",
    ]


def test_the_search_never_parses_a_suite_file_the_suites_own_reading_refuses(
    tmp_path: Path, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key of 100,000 dots takes tomllib seconds to minutes (squared); assay's reading of
    TOML (validation.load_toml) refuses a line of 1000 dots before parsing. The search read
    suite files with tomllib itself: the hostile test tree's search took ~16 s. A spy on
    tomllib (it still parses) records what it was given."""
    import tomllib

    from assay.validation import MAX_KEY_PARTS

    parsed: list[str] = []
    real = tomllib.loads

    def spying_loads(text: str, **kwargs: Any) -> dict[str, Any]:
        parsed.append(text)
        return real(text, **kwargs)

    monkeypatch.setattr(tomllib, "loads", spying_loads)
    dotted = "[suite.env." + ".".join(["a"] * 2 * MAX_KEY_PARTS) + "]\n"
    write("d/d.suite.toml", '[suite]\ncases = "c/*"\n' + dotted)
    write("d/c/x/test_d.py", GOOD)
    found = find_files([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "d/c/x/test_d.py",
        "d/d.suite.toml",
    ]
    assert not any(line.count(".") >= MAX_KEY_PARTS for t in parsed for line in t.split("\n"))


def test_find_files_takes_given_files_as_they_are(tmp_path: Path, write: Write) -> None:
    helper = write("helper.py", "VALUE = 1\n")
    hidden = write(".hidden/test_h.py", GOOD)
    assert find_files([str(helper), str(hidden)]) == [helper, hidden]


def test_find_files_lists_each_file_once(tmp_path: Path, write: Write) -> None:
    test = write("test_a.py", GOOD)
    found = find_files([str(test), str(tmp_path), str(tmp_path / "." / "test_a.py")])
    assert found == [test]


def test_find_files_missing_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(UsageError) as info:
        find_files([missing])
    assert str(info.value) == f"{missing}: no such file or directory"


def test_load_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        load([str(tmp_path / "tests")])


# --- loading --------------------------------------------------------------------------------


def test_load_collects_concrete_test_classes_in_line_order(write: Write) -> None:
    path = write(
        "test_many.py",
        """
        import assay

        class Second(assay.Test):
            command = "true"

        class Base(assay.Test):
            abstract = True

        class First(Base):
            command = "true"

        NotATest = 3
        """,
    )
    loaded = load([str(path)])
    assert loaded.problems == []
    assert [t.__name__ for t in loaded.tests] == ["Second", "First"]
    assert loaded.files == [path]
    assert set(loaded.by_name()) == {"Second", "First"}
    assert loaded.tests[0]._assay.file == str(path)
    assert loaded.tests[0]._assay.line == 3


def test_an_alias_of_a_test_class_is_not_a_duplicate(write: Write) -> None:
    path = write(
        "test_alias.py",
        """
        import assay

        class Original(assay.Test):
            command = "true"

        Alias = Original
        """,
    )
    loaded = load([str(path)])
    assert loaded.problems == []
    assert [t.__name__ for t in loaded.tests] == ["Original"]


def test_load_a_directory(tmp_path: Path, write: Write) -> None:
    write("a/test_one.py", GOOD)
    write(
        "b/test_two.py",
        """
        import assay

        class Other(assay.Test):
            command = "true"
        """,
    )
    loaded = load([str(tmp_path)])
    assert loaded.problems == []
    assert sorted(t.__name__ for t in loaded.tests) == ["Hello", "Other"]


def test_non_python_file_is_reported(write: Write) -> None:
    path = write("tests.txt", "assay")
    problem = only_problem(load([str(path)]).problems)
    assert problem.file == str(path)
    assert problem.line is None
    assert "not a test file" in problem.message


def test_import_error_reports_file_and_line(write: Write) -> None:
    path = write(
        "test_broken.py",
        """
        import assay

        class Fine(assay.Test):
            command = "true"

        raise RuntimeError("database not reachable")
        """,
    )
    loaded = load([str(path)])
    assert loaded.tests == []
    problem = only_problem(loaded.problems)
    assert problem.file == str(path)
    assert problem.line == 6
    assert problem.message == "failed to import: RuntimeError: database not reachable"
    assert str(problem) == f"{path}:6: failed to import: RuntimeError: database not reachable"


def test_import_error_inside_a_function_reports_the_innermost_line(write: Write) -> None:
    path = write(
        "test_func.py",
        """
        import assay

        def configure():
            return {}["missing"]

        SETTINGS = configure()
        """,
    )
    problem = only_problem(load([str(path)]).problems)
    assert problem.line == 4
    assert "KeyError" in problem.message


def test_error_in_an_imported_helper_points_at_the_import_line(write: Write) -> None:
    write("broken_helper_mod.py", "X = 1\nraise ValueError('helper is broken')\n")
    path = write(
        "test_uses_helper.py",
        """
        import assay
        # a comment
        import broken_helper_mod
        """,
    )
    problem = only_problem(load([str(path)]).problems)
    assert problem.file == str(path)
    assert problem.line == 3
    assert "ValueError: helper is broken" in problem.message


def test_missing_module_is_reported(write: Write) -> None:
    path = write("test_missing.py", "import assay\nimport no_such_module_for_assay_tests\n")
    problem = only_problem(load([str(path)]).problems)
    assert problem.line == 2
    assert "ModuleNotFoundError" in problem.message
    assert "no_such_module_for_assay_tests" in problem.message


def test_syntax_error_reports_its_line(write: Write) -> None:
    path = write(
        "test_syntax.py",
        """
        import assay

        class Broken(assay.Test):
            command = "true" +

        x = 1
        """,
    )
    problem = only_problem(load([str(path)]).problems)
    assert problem.file == str(path)
    assert problem.line == 4
    assert problem.message == "SyntaxError: invalid syntax"


def test_unclosed_bracket_reports_where_it_opened(write: Write) -> None:
    path = write(
        "test_unclosed.py",
        """
        import assay

        class Broken(assay.Test):
            command = "true"
            tags = {"a",

        x = 1
        """,
    )
    problem = only_problem(load([str(path)]).problems)
    assert problem.line == 5
    assert problem.message.startswith("SyntaxError: ")


def test_simple_syntax_error_line(write: Write) -> None:
    path = write("test_syntax2.py", "import assay\n\nx = = 1\n")
    problem = only_problem(load([str(path)]).problems)
    assert problem.line == 3
    assert problem.message == "SyntaxError: invalid syntax"


@pytest.mark.parametrize(("call", "code"), [("sys.exit()", "None"), ("sys.exit(3)", "3")])
def test_sys_exit_at_import_is_reported(write: Write, call: str, code: str) -> None:
    path = write("test_exit.py", f"import sys\nimport assay\n\n{call}\n")
    loaded = load([str(path)])
    problem = only_problem(loaded.problems)
    assert problem.line == 4
    assert problem.message == (
        f"failed to import: calls sys.exit({code}) at import time; test files must not exit"
    )


def test_one_broken_file_does_not_stop_the_others(tmp_path: Path, write: Write) -> None:
    write("test_a_broken.py", "import assay\nraise ImportError('nope')\n")
    write("test_b_good.py", GOOD)
    loaded = load([str(tmp_path)])
    assert [t.__name__ for t in loaded.tests] == ["Hello"]
    problem = only_problem(loaded.problems)
    assert problem.file.endswith("test_a_broken.py")


def test_malformed_class_is_reported_and_good_class_still_loads(write: Write) -> None:
    path = write(
        "test_mixed.py",
        """
        import assay


        class Good(assay.Test):
            command = "true"


        class Bad(assay.Test):
            tags = "slow"
            time_limit = "ten"


        class AlsoGood(assay.Test):
            command = "true"
        """,
    )
    loaded = load([str(path)])
    assert [t.__name__ for t in loaded.tests] == ["Good", "AlsoGood"]
    problem = only_problem(loaded.problems)
    assert problem.file == str(path)
    assert problem.line == 8
    assert problem.test == "Bad"
    lines = problem.message.splitlines()
    assert lines[0] == "test Bad is malformed:"
    assert all(line.startswith("  - ") for line in lines[1:])
    assert any("tags must be a set of strings" in line for line in lines)
    assert any("time_limit 'ten' is not a duration" in line for line in lines)
    assert any("command is not set" in line for line in lines)


def test_duplicate_test_names_across_files(tmp_path: Path, write: Write) -> None:
    first = write(
        "a/test_first.py",
        """
        import assay

        class Same(assay.Test):
            command = "echo first"
        """,
    )
    second = write(
        "b/test_second.py",
        """
        import assay


        class Same(assay.Test):
            command = "echo second"
        """,
    )
    loaded = load([str(tmp_path)])
    (test,) = loaded.tests
    assert test.command == "echo first"
    problem = only_problem(loaded.problems)
    assert problem.file == str(second)
    assert problem.line == 4
    assert problem.test == "Same"
    assert f"test name 'Same' is already defined at {first}:3" in problem.message
    assert "must be unique" in problem.message


def test_loading_the_same_file_twice_reuses_the_module(write: Write) -> None:
    path = write("test_twice.py", GOOD)
    first = load([str(path)])
    second = load([str(path)])
    assert second.problems == []
    assert first.tests == second.tests


def test_test_file_can_import_a_helper_beside_it(tmp_path: Path, write: Write) -> None:
    write("suite/assay_unit_helper_beside.py", "SIZE = 42\n")
    write(
        "suite/test_with_helper.py",
        """
        import assay
        from assay_unit_helper_beside import SIZE

        class UsesHelper(assay.Test):
            command = "true"
            size = assay.variable(int, SIZE)
        """,
    )
    loaded = load([str(tmp_path / "suite")])
    assert loaded.problems == []
    assert [str(f.name) for f in loaded.files] == ["test_with_helper.py"]
    (test,) = loaded.tests
    assert test._assay.variables["size"].default == 42


def test_helpers_with_the_same_name_in_different_suites(tmp_path: Path, write: Write) -> None:
    """Each test file gets the helper that sits beside it, not one imported earlier."""
    for suite, value in (("one", 1), ("two", 2)):
        write(f"{suite}/assay_unit_common.py", f"VALUE = {value}\n")
        write(
            f"{suite}/test_{suite}.py",
            f"""
            import assay
            from assay_unit_common import VALUE

            class Uses_{suite}(assay.Test):
                command = "true"
                value = assay.variable(int, VALUE)
            """,
        )
    loaded = load([str(tmp_path)])
    assert loaded.problems == []
    values = {t.__name__: t._assay.variables["value"].default for t in loaded.tests}
    assert values == {"Uses_one": 1, "Uses_two": 2}


def test_base_class_imported_from_another_file_is_not_collected_twice(
    tmp_path: Path, write: Write
) -> None:
    write(
        "assay_unit_bases.py",
        """
        import assay

        class SharedBase(assay.Test):
            abstract = True
            command = "true"

        class Concrete(assay.Test):
            command = "true"
        """,
    )
    write(
        "test_derived.py",
        """
        import assay
        from assay_unit_bases import SharedBase, Concrete

        class Derived(SharedBase):
            pass
        """,
    )
    loaded = load([str(tmp_path / "test_derived.py")])
    assert loaded.problems == []
    assert [t.__name__ for t in loaded.tests] == ["Derived"]
