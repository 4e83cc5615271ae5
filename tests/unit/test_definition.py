"""What assay reads from a Test subclass when it is defined, and what it finds wrong."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import assay
from assay.define.hooks import MetricSpec
from assay.define.params import Variable


def errors_of(cls: type[assay.Test]) -> list[str]:
    return cls._assay.errors


def one_error(cls: type[assay.Test], fragment: str) -> str:
    """The single error of ``cls`` containing ``fragment`` (fails if none or several)."""
    found = [e for e in errors_of(cls) if fragment in e]
    assert len(found) == 1, f"{fragment!r} in {errors_of(cls)}"
    return found[0]


def test_a_good_test_has_no_errors() -> None:
    class Good(assay.Test):
        command = "./app"
        tags = {"fast", "smoke"}
        time_limit = "5m"
        tasks = 4
        env = {"OMP_NUM_THREADS": 2, "MODE": "x"}
        exit_codes = {0, 1}
        threads = assay.parameter([1, 2])
        size = assay.variable(int, 10)

        @assay.metric("MB/s")
        def bandwidth(self, out: Any) -> float:
            return 1.0

        references = {"*": {"bandwidth": assay.ref(100, lower=-0.1, unit="MB/s")}}

    assert errors_of(Good) == []
    assert Good._assay.name == "Good"
    assert Good._assay.abstract is False


def test_missing_command() -> None:
    class NoCommand(assay.Test):
        tags = {"x"}

    message = one_error(NoCommand, "command is not set")
    assert "abstract = True" in message


def test_a_parameter_named_case_is_refused_naming_it(write, assay_cli) -> None:
    # Many suites call their cases "case" (a suite file's own parameter is named so): in a
    # Python test, self.case was assay's running case, so {program} from a property reading
    # self.case stayed as written and `assert self.case == ...` compared a CaseInfo.
    write(
        "test_named.py",
        """
        import assay


        class Named(assay.Test):
            case = assay.parameter(["a", "b"])
            command = "echo {case}"

            def sanity(self, out):
                assert self.case == out.stdout.strip()
        """,
    )
    result = assay_cli("run", "test_named.py", "--plain")
    assert result.code == 1, result
    assert (
        "parameter 'case' has the name of assay's own self.case, the running case (its name, "
        "id, stage dir, artifacts), which would hide its value: rename it, e.g. case_ or "
        "test_case"
    ) in result.stdout, result
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["case", "params", "stage_dir", "format", "sanity"])
def test_parameters_and_variables_may_not_take_assay_s_own_names(name: str) -> None:
    as_param = type("P", (assay.Test,), {"command": "true", name: assay.parameter([1, 2])})
    one_error(as_param, f"parameter {name!r} has the name of assay's own self.{name}")
    as_var = type("V", (assay.Test,), {"command": "true", name: assay.variable(int, 1)})
    one_error(as_var, f"variable {name!r} has the name of assay's own self.{name}")


def test_the_refused_names_are_all_that_assay_gives_an_instance() -> None:
    from assay.define.definition import HIDDEN

    own = {n for n in vars(assay.Test) if not n.startswith("_") and n != "abstract"}
    given = set(inspect.get_annotations(assay.Test)) - {"_assay", "abstract"}
    assert own | given == set(HIDDEN)


def test_abstract_suppresses_the_command_error() -> None:
    class Base(assay.Test):
        abstract = True

    assert errors_of(Base) == []
    assert Base._assay.abstract is True


def test_abstract_is_not_inherited() -> None:
    class Base(assay.Test):
        abstract = True

    class Child(Base):
        pass

    assert Child._assay.abstract is False
    one_error(Child, "command is not set")


def test_command_inherited_from_base() -> None:
    class Base(assay.Test):
        abstract = True
        command = "./run"

    class Child(Base):
        pass

    assert errors_of(Child) == []


def test_setup_hook_replaces_the_command() -> None:
    class Prepared(assay.Test):
        @assay.before("setup")
        def prepare(self) -> None:
            pass

    assert errors_of(Prepared) == []


def test_tags_as_a_string() -> None:
    class BadTags(assay.Test):
        command = "true"
        tags = "fast"

    message = one_error(BadTags, "tags ")
    assert "must be a set of strings" in message
    assert "{'fast'}" in message
    assert "got the string 'fast'" in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("ten", "time_limit 'ten' is not a duration"),
        (-5, "time_limit duration -5 must be positive"),
        (0, "must be positive"),
        (True, "time_limit True is not a duration"),
        ([60], "is not a duration"),
    ],
)
def test_bad_time_limit(value: object, fragment: str) -> None:
    class BadTime(assay.Test):
        command = "true"
        time_limit = value

    one_error(BadTime, fragment)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("tasks", 0, "tasks must be an integer >= 1 or None, got 0"),
        ("tasks", 2.0, "tasks must be an integer >= 1"),
        ("tasks", True, "tasks must be an integer >= 1"),
        ("nodes", 0, "nodes must be an integer >= 1 or None"),
        ("gpus_per_node", -1, "gpus_per_node must be an integer >= 0 or None"),
        ("exclusive", "yes", "exclusive must be True or False"),
        ("exit_codes", "0", "exit_codes must be an exit code"),
        ("exit_codes", [0, True], "exit_codes must be an exit code"),
        ("skip_exit_codes", 77, "skip_exit_codes must be a list of exit codes, such as [77]"),
        ("skip_exit_codes", "77", "skip_exit_codes must be a list of exit codes"),
        ("skip_exit_codes", [77, True], "skip_exit_codes must be a list of exit codes"),
        ("skip_exit_codes", [0, 77], "skip_exit_codes holds 0, the exit code of a run that"),
        ("skip_exit_codes", [-1], "skip_exit_codes holds -1, which is no exit code"),
        ("skip_exit_codes", [77, 256], "skip_exit_codes holds 256, which is no exit code"),
        ("env", ["A=1"], "env must be a dict"),
        ("env", {"1X": "a"}, "env has an invalid variable name '1X'"),
        ("env", {"A-B": "a"}, "env has an invalid variable name 'A-B'"),
        ("env", {"V\u00c4R": "a"}, "env has an invalid variable name 'V\u00c4R'"),
        ("env", {"A": None}, "value of 'A' must be a string or number"),
        ("env", {"A": True}, "value of 'A' must be a string or number"),
        ("command", ["./a", "b"], "command must be a string"),
        # A lone surrogate (a file name from os.listdir in another encoding): before, the
        # case failed at run time with the raw codec error, naming no field.
        ("command", "cat d\udcff", "command has 'cat d\\udcff', which is not UTF-8 text"),
        ("prerun", ["cd d\udcff"], "prerun has 'cd d\\udcff', which is not UTF-8 text"),
        ("postrun", "rm d\udcff", "postrun has 'rm d\\udcff', which is not UTF-8 text"),
        ("build", ["make d\udcff"], "build has 'make d\\udcff', which is not UTF-8 text"),
        ("env", {"D": "d\udcff"}, "env has 'd\\udcff', which is not UTF-8 text"),
        ("build", 5, "build must be a string or a list of strings"),
        ("systems", [1], "systems must be a string or a list of strings"),
        ("depends_on", [3], "depends_on must name tests (strings) or Test classes"),
        ("depends_on", 3, "depends_on must be a list of test names or classes"),
        ("exclude", {"a": 1}, "exclude must be a list of dicts"),
        ("build_time_limit", "soon", "build_time_limit 'soon' is not a duration"),
        ("references", [], "references must be a dict"),
    ],
)
def test_field_checks(field: str, value: object, fragment: str) -> None:
    cls = type("Bad", (assay.Test,), {"command": "true", field: value})
    one_error(cls, fragment)


@pytest.mark.parametrize(
    ("exit_codes", "said"),
    [({0, 77}, ""), (None, " (which accepts any)"), ("nonzero", ' ("nonzero")'), (77, "")],
)
def test_a_code_in_both_exit_codes_and_skip_exit_codes_is_refused(
    exit_codes: object, said: str
) -> None:
    cls = type(
        "Both",
        (assay.Test,),
        {"command": "true", "exit_codes": exit_codes, "skip_exit_codes": [77]},
    )
    one_error(
        cls,
        f"exit code 77 is in both exit_codes{said} and skip_exit_codes: a run that exits "
        "with it would both pass and skip; take it out of one of them",
    )


def test_skip_exit_codes_apart_from_exit_codes_are_accepted() -> None:
    class Apart(assay.Test):
        command = "true"
        exit_codes = {0, 1}
        skip_exit_codes = [77, 5]

    assert errors_of(Apart) == []


def test_all_problems_are_collected_together() -> None:
    class Many(assay.Test):
        tags = "x"
        tasks = 0
        time_limit = "never"

    errors = errors_of(Many)
    assert len(errors) == 4
    assert any(e.startswith("tags ") for e in errors)
    assert any(e.startswith("tasks ") for e in errors)
    assert any(e.startswith("time_limit ") for e in errors)
    assert any(e.startswith("command ") for e in errors)


def test_unknown_metric_in_references_with_suggestion() -> None:
    class Refs(assay.Test):
        command = "true"

        @assay.metric("MB/s")
        def bandwidth(self, out: Any) -> float:
            return 1.0

        references = {"sys:part": {"bandwith": assay.ref(100)}}

    message = one_error(Refs, "bandwith")
    assert "references['sys:part']['bandwith']" in message
    assert "(did you mean 'bandwidth'?)" in message
    assert "metrics defined: bandwidth" in message


def test_unknown_metric_when_no_metrics_are_defined() -> None:
    class NoMetrics(assay.Test):
        command = "true"
        references = {"*": {"time": 1.0}}

    message = one_error(NoMetrics, "'time'")
    assert "metrics defined: none" in message
    assert "did you mean" not in message


def test_unit_mismatch() -> None:
    class Units(assay.Test):
        command = "true"

        @assay.metric("MB/s")
        def bandwidth(self, out: Any) -> float:
            return 1.0

        references = {"*": {"bandwidth": assay.ref(20, unit="GB/s")}}

    message = one_error(Units, "unit")
    assert "references['*']['bandwidth']" in message
    assert "'GB/s'" in message
    assert "'MB/s'" in message


def test_bad_reference_values() -> None:
    class BadRefs(assay.Test):
        command = "true"

        @assay.metric()
        def t(self, out: Any) -> float:
            return 1.0

        references = {"a": {"t": "fast"}, "b": {"t": assay.ref(1, lower=0.5)}, "c": 5}

    one_error(BadRefs, "references['a']['t']: reference 'fast' is not a reference")
    one_error(BadRefs, "references['b']['t']: lower tolerance 0.5")
    one_error(BadRefs, "references['c'] must be a dict")


def test_typo_attribute() -> None:
    class Typo(assay.Test):
        comand = "./app"

    message = one_error(Typo, "'comand'")
    assert "unknown attribute 'comand' (did you mean 'command'?)" in message
    one_error(Typo, "command is not set")


@pytest.mark.parametrize(("typo", "meant"), [("tag", "tags"), ("time_limt", "time_limit")])
def test_other_typos(typo: str, meant: str) -> None:
    cls = type("Typos", (assay.Test,), {"command": "true", typo: {"x"}})
    one_error(cls, f"unknown attribute {typo!r} (did you mean {meant!r}?)")


def test_own_attributes_and_methods_are_not_typos() -> None:
    class Own(assay.Test):
        command = "true"
        input_file = "data.in"
        description = "a test"
        tagz = assay.variable(str, "v")  # declared, so not a typo of 'tags'

        def helper(self) -> None:
            pass

    assert errors_of(Own) == []


def test_variable_without_default() -> None:
    class NoDefault(assay.Test):
        command = "true"
        size = assay.variable(int)

    message = one_error(NoDefault, "'size'")
    assert "variable 'size' has no default" in message


@pytest.mark.parametrize(
    ("typ", "default"),
    [(int, "10"), (int, True), (int, 1.5), (str, 3), (bool, 1), (list, "a,b"), (float, "1")],
)
def test_variable_default_of_wrong_type(typ: type, default: object) -> None:
    cls = type("WrongType", (assay.Test,), {"command": "true", "v": assay.variable(typ, default)})
    message = one_error(cls, "variable 'v'")
    assert f"is declared {typ.__name__} but its default is {default!r}" in message


@pytest.mark.parametrize(("typ", "default"), [(float, 3), (int, 0), (str, None), (list, ["a"])])
def test_variable_default_that_fits(typ: type, default: object) -> None:
    cls = type("Fits", (assay.Test,), {"command": "true", "v": assay.variable(typ, default)})
    assert errors_of(cls) == []


def test_subclass_plain_value_overrides_variable_default() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"
        size = assay.variable(int, 10, help="cells", choices=[10, 20])

    class Child(Base):
        size = 20

    var = Child._assay.variables["size"]
    assert var == Variable(int, 20, "cells", (10, 20))
    assert var.name == "size"
    assert Base._assay.variables["size"].default == 10
    assert errors_of(Child) == []


def test_subclass_override_of_wrong_type_is_reported() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"
        size = assay.variable(int, 10)

    class Child(Base):
        size = "big"

    one_error(Child, "variable 'size' is declared int but its default is 'big'")


def test_subclass_rebinds_a_parameter() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"
        n = assay.parameter([1, 2])
        m = assay.parameter(["a"])

    class Child(Base):
        n = assay.parameter([3, 4, 5])

    assert list(Base._assay.space) == [(1, "a"), (2, "a")]
    child = Child._assay.space
    assert set(child.names) == {"n", "m"}
    assert sorted(dict(zip(child.names, v, strict=True))["n"] for v in child) == [3, 4, 5]
    assert len(child.params) == 2


def test_subclass_can_remove_a_parameter_with_a_plain_value() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"
        n = assay.parameter([1, 2])

    class Child(Base):
        n = 7

    assert Child._assay.space.names == ()
    assert list(Child._assay.space) == [()]


def test_parameter_problems_are_definition_errors() -> None:
    class Zipped(assay.Test):
        command = "true"
        a = assay.parameter([1, 2], group="g")
        b = assay.parameter([1], group="g")
        c = assay.parameter([])

    one_error(Zipped, "group 'g' must have equal lengths")
    one_error(Zipped, "parameter 'c' has no values")


def test_exclude_naming_unknown_parameter_is_an_error() -> None:
    class Excl(assay.Test):
        command = "true"
        a = assay.parameter([1, 2])
        exclude = [{"b": 1}]

    one_error(Excl, "names unknown parameter(s) ['b']")


def test_hooks_collected_base_to_derived() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"

        @assay.before("run")
        def base_first(self) -> None:
            pass

        @assay.after("build")
        def base_after_build(self) -> None:
            pass

    class Child(Base):
        @assay.before("run")
        def child_second(self) -> None:
            pass

        @assay.before("run")
        @assay.after("cleanup")
        def child_both(self) -> None:
            pass

    hooks = Child._assay.hooks
    assert [f.__name__ for f in hooks[("before", "run")]] == [
        "base_first",
        "child_second",
        "child_both",
    ]
    assert [f.__name__ for f in hooks[("after", "build")]] == ["base_after_build"]
    assert [f.__name__ for f in hooks[("after", "cleanup")]] == ["child_both"]
    assert hooks[("before", "setup")] == []
    assert len(hooks) == 12
    # The base class only sees its own hooks.
    assert [f.__name__ for f in Base._assay.hooks[("before", "run")]] == ["base_first"]


def test_overridden_hook_runs_once_in_its_base_position() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"

        @assay.before("run")
        def first(self) -> None:
            pass

        @assay.before("run")
        def second(self) -> None:
            pass

    class Child(Base):
        @assay.before("run")
        def first(self) -> None:
            pass

    hooks = Child._assay.hooks[("before", "run")]
    assert [f.__qualname__.split(".")[-2:] for f in hooks] == [
        ["Child", "first"],
        ["Base", "second"],
    ]


def test_override_without_decorator_removes_the_hook() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"

        @assay.before("run")
        def prepare(self) -> None:
            pass

    class Child(Base):
        def prepare(self) -> None:
            pass

    assert Child._assay.hooks[("before", "run")] == []


def test_hook_with_unknown_stage() -> None:
    with pytest.raises(ValueError) as info:
        assay.before("runn")
    message = str(info.value)
    assert "@assay.before('runn'): unknown stage (did you mean 'run'?)" in message
    assert "setup, build, run, sanity, performance, cleanup" in message


def test_metric_without_parentheses() -> None:
    with pytest.raises(TypeError, match="with parentheses"):

        class Oops(assay.Test):
            command = "true"

            @assay.metric  # type: ignore[arg-type]
            def t(self, out: Any) -> float:
                return 1.0


def test_metrics_collected_with_units() -> None:
    class Base(assay.Test):
        abstract = True
        command = "true"

        @assay.metric("s")
        def elapsed(self, out: Any) -> float:
            return 1.0

    class Child(Base):
        @assay.metric("MB/s")
        def bandwidth(self, out: Any) -> float:
            return 1.0

        @assay.metric()
        def count(self, out: Any) -> float:
            return 1.0

        def not_a_metric(self, out: Any) -> float:
            return 1.0

    assert Child._assay.metrics == {
        "elapsed": MetricSpec("s"),
        "bandwidth": MetricSpec("MB/s"),
        "count": MetricSpec(None),
    }
    assert Base._assay.metrics == {"elapsed": MetricSpec("s")}


def test_definition_file_and_line() -> None:
    line = inspect.currentframe().f_lineno + 2  # type: ignore[union-attr]

    class Located(assay.Test):
        command = "true"

    definition = Located._assay
    assert definition.file == __file__
    assert definition.line == line
    assert definition.location == f"{__file__}:{line}"


def test_definition_line_of_a_long_class_is_the_class_statement() -> None:
    line = inspect.currentframe().f_lineno + 2  # type: ignore[union-attr]

    class Long(
        assay.Test,
    ):
        command = "true"
        tags = {"a"}

        @assay.before("run")
        def hook(self) -> None:
            pass

        size = assay.variable(int, 1)

    assert Long._assay.line == line


def test_definition_line_of_a_decorated_class() -> None:
    def keep(cls: type) -> type:
        return cls

    line = inspect.currentframe().f_lineno + 3  # type: ignore[union-attr]

    @keep
    class Decorated(assay.Test):
        command = "true"

    # The class statement itself, not the decorator line.
    assert Decorated._assay.line == line


def test_parametrizing_a_builtin_resource_field_is_allowed() -> None:
    """Scaling tests sweep nodes or tasks; ``variant_filter``'s own docstring does this."""

    class Scaling(assay.Test):
        command = "./app"
        nodes = assay.parameter([1, 2, 4])
        size = assay.parameter([16, 64])

        @assay.variant_filter
        def fits(size, nodes):  # type: ignore[misc]
            return size >= nodes * 16

    assert errors_of(Scaling) == []
    assert list(Scaling._assay.space) == [(1, 16), (1, 64), (2, 64), (4, 64)]


def test_a_misspelt_name_in_a_command_is_an_error_naming_the_one_meant() -> None:
    # Before, {sise} stayed in the script as written and the job ran `echo {sise}`.
    class Typo(assay.Test):
        size = assay.parameter([1, 2])
        threads = assay.variable(int, 2)
        command = "echo {sise} ${HOME} {{sise}} {print}"
        env = {"OMP_NUM_THREADS": "{thread}"}

    assert one_error(Typo, "{sise}") == (
        "command: {sise} names no parameter, variable or field, so it would stay as written; "
        "did you mean {size}? ({{sise}} is the literal text)"
    )
    assert "env['OMP_NUM_THREADS']: {thread} names no" in one_error(Typo, "{thread}")
    assert len(errors_of(Typo)) == 2, errors_of(Typo)


def test_names_of_own_attributes_and_fields_in_a_command_are_not_misspellings() -> None:
    class Own(assay.Test):
        sizes = "1 2"
        size = assay.parameter([1])
        command = "echo {sizes} {size} {tasks} {stage_dir}"
        build = ["make -j{cpus_per_task}"]

    assert errors_of(Own) == []


def test_a_method_misspelt_as_sanity_is_an_error() -> None:
    # Before, santiy() was never called and the case passed on its exit code alone.
    class Typo(assay.Test):
        command = "echo hi"

        def santiy(self, out: object) -> None:
            raise AssertionError

    assert "method 'santiy' looks like sanity misspelt" in one_error(Typo, "santiy")

    class Own(assay.Test):
        command = "echo hi"

        def sanitize(self) -> None: ...

        def validate(self) -> None: ...

    assert errors_of(Own) == []
