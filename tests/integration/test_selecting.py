"""Selecting what assay printed: a case name pasted from the output selects its case, and
`assay list` says clearly when nothing matches or something failed to load."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import CliResult, write_tree

Cli = Callable[..., CliResult]


def _yaml_suite(tmp_path) -> None:
    files = {
        "yaml.suite.toml": (
            '[suite]\nname = "yaml"\ndescription = """Round trips of the yaml test suite.\n'
            'Each case parses in.yaml."""\ncases = "cases/*"\ncommand = "true"\n'
        ),
        "yamlc.suite.toml": '[suite]\ncases = "cases/*"\ncommand = "true"\n',
    }
    for case in ("Y2GN", "Y2GX", "ZZZ1"):
        files[f"cases/{case}/in.yaml"] = "a: 1\n"
    write_tree(tmp_path, files)


def test_a_name_pasted_from_the_output_selects_its_case(tmp_path, assay_cli: Cli):
    _yaml_suite(tmp_path)
    listed = assay_cli("list", ".", "-n", "yaml[case=Y2GN]")
    assert listed.code == 0, listed
    assert [line.split("  ")[1] for line in listed.stdout.splitlines()[:-1]] == [
        "yaml[case=Y2GN] @local:default+builtin"
    ]
    # The whole case name, as the summary prints it, works the same; with run too.
    ran = assay_cli("run", ".", "-n", "yaml[case=Y2GN] @local:default+builtin", "--plain")
    assert ran.code == 0, ran
    assert [c["name"] for c in ran.report["cases"]] == ["yaml[case=Y2GN] @local:default+builtin"]
    # A regular expression still works where the text is no name.
    regex = assay_cli("list", ".", "-n", r"^yaml\[case=Y2G[NX]\]$")
    assert regex.stdout.count("yaml[case=Y2G") == 2 and "yamlc" not in regex.stdout


def test_list_with_a_selection_that_matches_nothing_is_a_usage_error(tmp_path, assay_cli: Cli):
    _yaml_suite(tmp_path)
    result = assay_cli("list", ".", "-n", "NoSuchCase")
    assert result.code == 2
    assert result.stdout == ""
    assert "assay: error: no cases match the selection (2 test(s) loaded)" in result.stderr


def test_list_says_load_problems_before_its_count_and_in_it(tmp_path, assay_cli: Cli):
    write_tree(tmp_path, {"broken.suite.toml": "[suite]\ncommand = 1\n"})
    result = assay_cli("list", ".")
    assert result.code == 1
    assert result.stdout.splitlines()[-1] == (
        "0 case(s) of 0 test(s) on system local; 1 problem(s) loading tests (above)"
    )
    assert "broken.suite.toml" in result.stderr


def test_list_verbose_shows_the_suite_description(tmp_path, assay_cli: Cli):
    _yaml_suite(tmp_path)
    result = assay_cli("list", ".", "-v", "-n", "yaml[case=Y2G")
    lines = result.stdout.splitlines()
    assert lines[1:3] == [
        "    description: Round trips of the yaml test suite.",
        "                 Each case parses in.yaml.",
    ]
    assert result.stdout.count("description:") == 1  # once per test
    as_json = assay_cli("list", ".", "--json", "-n", "yaml[case=Y2GN]")
    assert '"description": "Round trips of the yaml test suite.\\nEach case parses in.yaml."' in (
        as_json.stdout
    )


def test_a_name_pattern_anchored_after_the_tests_name_is_told_why_it_matches_nothing(
    tmp_path, assay_cli: Cli
):
    # A newcomer's -n 'yaml$': every case's name goes on with its parameters and place.
    _yaml_suite(tmp_path)
    for command in ("list", "run"):
        result = assay_cli(command, ".", "-n", "yaml$", "--plain" if command == "run" else "-v")
        assert result.code == 2, result
        assert "no cases match the selection" in result.stderr
        assert "-n 'yaml$' matches none; drop the '$'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    # Without an anchored pattern the hint stays as it was.
    plain = assay_cli("list", ".", "-n", "NoSuchCase")
    assert "drop the '$'" not in plain.stderr


def test_a_mistyped_test_name_is_told_the_names_it_resembles(tmp_path, assay_cli: Cli):
    write_tree(
        tmp_path,
        {
            "test_echo.py": "import assay\n\n"
            "class EchoTestV0(assay.Test):\n    command = 'true'\n\n"
            "class EchoTestV1(assay.Test):\n    command = 'true'\n"
        },
    )
    for command in ("list", "run"):
        result = assay_cli(command, ".", "-n", "EchoTest2")
        assert result.code == 2, result
        assert (
            "-n 'EchoTest2' matches no test; did you mean 'EchoTestV1' or 'EchoTestV0'?"
        ) in result.stderr, result.stderr
    far = assay_cli("list", ".", "-n", "Zzz")
    assert "-n 'Zzz' matches no test; the tests are EchoTestV0, EchoTestV1" in far.stderr
    aimed = assay_cli("list", ".", "-n", "EchoTestV0[x=5")  # a parameter's value: no test hint
    assert aimed.code == 2 and "matches no test" not in aimed.stderr, aimed.stderr


def test_paths_without_any_test_say_what_a_test_is(tmp_path, assay_cli: Cli):
    # A pytest file: before, "no cases match the selection" and a hint about -n/-t/-p.
    write_tree(tmp_path, {"test_plain.py": "def test_x():\n    assert True\n"})
    for command in ("list", "run"):
        result = assay_cli(command, "test_plain.py")
        assert result.code == 2, result
        assert "assay: error: no tests found" in result.stderr, result.stderr
        assert "subclasses assay.Test" in result.stderr
        assert "check -n" not in result.stderr
