"""A ReFrame user's hands on assay's command line: ReFrame's options (``-r``,
``--exec-policy``, ``--performance-report``), its ``-c TEST.py``, its ``-p ENV`` and its
``-P NAME=V1,V2`` each get a hint that names assay's way, instead of a bare "No such option",
"not valid TOML" or "no cases match"; and a test's ``environments = ["+openmp"]`` (ReFrame's
feature syntax, which matched no environment: the test was planned nowhere, silently) is a
load problem naming the fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import CliResult, write_tree

Cli = Callable[..., CliResult]

TEST = (
    "import assay\n\n"
    "class Stream(assay.Test):\n"
    "    threads = assay.parameter([1, 2])\n"
    "    command = 'echo {threads}'\n"
)
CONFIG = (
    "[systems.tutorialsys]\n"
    "[systems.tutorialsys.partitions.default]\n"
    'environments = ["baseline", "gnu"]\n'
    "[environments.baseline]\n"
    "[environments.gnu]\n"
    'cc = "gcc"\n'
)


@pytest.fixture
def tree(tmp_path):
    write_tree(tmp_path, {"test_stream.py": TEST, "assay.toml": CONFIG})
    return tmp_path


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["run", "-r", "."], "-r is ReFrame's; in assay: `assay run PATHS`"),
        (["-c", "test_stream.py", "-r"], "-c is ReFrame's; in assay: `assay run PATHS`"),
        (["run", "--exec-policy=serial", "."], "in assay: --serial for one case at a time"),
        (["run", "--performance-report", "."], "every run ends with a table of each metric"),
        (["run", "--keep-stage-files", "."], "in assay: --keep-stage"),
        (["list", "-L", "."], "in assay: `assay list -v PATHS`"),
    ],
)
def test_a_reframe_option_is_told_assays(tree, assay_cli: Cli, args, said):
    result = assay_cli(*args)
    assert result.code == 2, result
    assert "No such option" in result.stderr, result.stderr
    assert said in result.stderr and "docs/from-reframe.md" in result.stderr, result.stderr


def test_an_unknown_option_that_is_not_reframes_gets_no_such_hint(tree, assay_cli: Cli):
    result = assay_cli("run", "--bogus", ".")
    assert result.code == 2 and "No such option" in result.stderr
    assert "ReFrame" not in result.stderr


def test_a_test_file_given_as_the_config_says_paths_are_arguments(tree, assay_cli: Cli):
    alone = assay_cli("run", "-c", "test_stream.py")
    assert alone.code == 2, alone
    assert "`assay run test_stream.py`" in alone.stderr, alone.stderr
    assert "ReFrame's -c is assay's PATHS" in alone.stderr
    beside = assay_cli("list", "-c", "test_stream.py", ".")
    assert beside.code == 2, beside
    assert "not valid TOML" in beside.stderr
    assert "give test files as arguments: `assay run test_stream.py`" in beside.stderr


def test_p_naming_an_environment_says_e_picks_environments(tree, assay_cli: Cli):
    for command in ("list", "run"):
        result = assay_cli(command, "-p", "gnu", ".")
        assert result.code == 2, result
        assert (
            "-p 'gnu' matches no partition of system tutorialsys (its partitions: default); "
            "to pick environments use -e (ReFrame's -p is assay's -e): -e gnu"
        ) in result.stderr, result.stderr
    right = assay_cli("list", "-e", "gnu", ".")
    assert right.code == 0 and right.stdout.count("+gnu") == 2, right


def test_e_that_matches_no_environment_lists_them(tree, assay_cli: Cli):
    result = assay_cli("list", "-e", "+openmp", ".")
    assert result.code == 2, result
    assert (
        "-e '+openmp' matches no environment of system tutorialsys (its environments: "
        "baseline, gnu); assay's environments have no +features"
    ) in result.stderr, result.stderr


def test_p_with_a_list_of_values_is_told_to_repeat_it(tree, assay_cli: Cli):
    result = assay_cli("list", "-P", "threads=1,2", ".")
    assert result.code == 2, result
    assert "for alternatives repeat -P: -P threads=1 -P threads=2" in result.stderr
    repeated = assay_cli("list", "-P", "threads=1", "-P", "threads=2", ".")
    assert repeated.code == 0 and "4 case(s)" in repeated.stdout, repeated


def test_a_reframe_feature_in_environments_is_a_load_problem(tree, assay_cli: Cli):
    write_tree(
        tree,
        {
            "test_feature.py": "import assay\n\n"
            "class Omp(assay.Test):\n"
            "    environments = ['+openmp']\n"
            "    command = 'true'\n"
        },
    )
    result = assay_cli("list", "test_feature.py")
    assert result.code == 1, result
    assert "test Omp is malformed" in result.stderr, result.stderr
    assert "environments pattern '+openmp' is ReFrame's syntax for a feature" in result.stderr


def test_a_reframe_variant_name_is_told_p(tree, assay_cli: Cli):
    result = assay_cli("list", "-n", "Stream%threads=2", ".")
    assert result.code == 2, result
    assert "ReFrame's TEST%PARAM=VALUE is assay's -n Stream -P threads=2" in result.stderr, (
        result.stderr
    )


def test_reframes_attribute_read_while_running_is_told_assays(tree, assay_cli: Cli):
    # Class attributes with ReFrame's names are refused at load; what a hook reads is not
    # known before it runs: the case fails with AttributeError, which names assay's.
    write_tree(
        tree,
        {
            "test_ported.py": "import assay\n\n"
            "class Ported(assay.Test):\n"
            "    command = 'echo hi'\n\n"
            "    @assay.after('setup')\n"
            "    def locate(self):\n"
            "        self.where = self.stagedir\n\n"
            "    def sanity(self, out):\n"
            "        out.expect('hi')\n"
        },
    )
    result = assay_cli("run", "--plain", "test_ported.py")
    assert result.code == 1, result
    cases = result.report["cases"]
    assert len(cases) == 2, cases  # (one per environment of the config)
    for case in cases:
        assert case["failure"]["stage"] == "setup", case
        assert (
            "AttributeError: 'Ported' object has no attribute 'stagedir' (ReFrame's name; "
            "assay's: self.case.stage_dir; docs/from-reframe.md) at "
        ) in case["failure"]["reason"], case["failure"]


def test_a_test_whose_environments_match_none_of_its_partitions_is_named(tree, assay_cli: Cli):
    # A ported test's environments = ["gnu-12"] where the config says "gnu": it had no
    # case, and neither list nor run said so. A test meant for other systems stays unsaid.
    write_tree(
        tree,
        {
            "test_places.py": "import assay\n\n"
            "class Gnu12(assay.Test):\n"
            "    environments = ['gnu-12']\n"
            "    command = 'true'\n\n"
            "class Elsewhere(assay.Test):\n"
            "    systems = ['cluster']\n"
            "    command = 'true'\n\n"
            "class Here(assay.Test):\n"
            "    command = 'true'\n"
        },
    )
    said = (
        "assay: warning: no case on system tutorialsys for Gnu12: its environments "
        "['gnu-12'] match none of baseline, gnu (the environments of tutorialsys:default)"
    )
    for command in ("list", "run"):
        result = assay_cli(command, "test_places.py")
        assert result.code == 0, result
        assert said in result.stderr, result.stderr
        assert "Elsewhere" not in result.stderr and "Here" not in result.stderr
    chosen = assay_cli("list", "-n", "Here", "test_places.py")
    assert chosen.code == 0 and "warning" not in chosen.stderr, chosen


def test_a_reframe_hash_in_n_is_told_case(tree, assay_cli: Cli):
    result = assay_cli("list", "-n", "/d6e60a22", ".")
    assert result.code == 2, result
    assert "ReFrame's -n /HASH is assay's --case ID" in result.stderr, result.stderr
