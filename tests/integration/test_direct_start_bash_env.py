"""A plain command started without bash must do what bash would have done. bash reads
``BASH_ENV`` (a file it sources first: Lmod's init on most clusters sets it, and it may
define functions and export variables) and ``SHELLOPTS``/``BASHOPTS`` from the environment
it starts in; the direct start did not, so the same command gave another result once a
``prerun`` line (which keeps bash) was added."""

from __future__ import annotations

import pytest

from tests.conftest import run_assay

TESTS = """
import assay


class Plain(assay.Test):
    command = "printenv GREETING"

    def sanity(self, out):
        out.expect("from-bash-env")


class WithPrerun(assay.Test):
    command = "printenv GREETING"
    prerun = ["true"]

    def sanity(self, out):
        out.expect("from-bash-env")


class Function(assay.Test):
    command = "hostname"

    def sanity(self, out):
        out.expect("function from BASH_ENV")
"""


def test_bash_env_of_the_callers_environment_is_honoured_by_every_plain_command(tmp_path):
    setup = tmp_path / "setup.sh"
    setup.write_text(
        "export GREETING=from-bash-env\nhostname() { echo 'function from BASH_ENV'; }\n"
    )
    (tmp_path / "test_env.py").write_text(TESTS)
    result = run_assay("run", "test_env.py", "--plain", cwd=tmp_path, env={"BASH_ENV": str(setup)})
    assert result.code == 0, result
    assert result.report["summary"]["passed"] == 3


@pytest.mark.parametrize("variable", ["SHELLOPTS", "BASHOPTS"])
def test_shell_options_of_the_callers_environment_keep_bash(tmp_path, monkeypatch, variable):
    from assay.schedulers.local_exec import direct_start

    monkeypatch.setenv(variable, "xtrace" if variable == "SHELLOPTS" else "extglob")
    assert direct_start((["cp", "a", "b"], {}), tmp_path, drop_caps=False) is None
    monkeypatch.delenv(variable)
    assert direct_start((["cp", "a", "b"], {}), tmp_path, drop_caps=False) is not None


OWN_ENV = """
import assay


class Direct{n}(assay.Test):
    sources = "src/"
    env = {env}
    command = "./prog.sh"


class Bash{n}(assay.Test):
    sources = "src/"
    env = {env}
    command = "true; ./prog.sh"  # two commands: bash runs the script
"""


@pytest.mark.parametrize(
    "env",
    [
        {"BASH_ENV": "./setup.sh"},
        {"SHELLOPTS": "xtrace"},
        {"BASHOPTS": "extglob"},
        {"PWD": "/elsewhere"},
        {"UID": "12345"},
    ],
    ids=["BASH_ENV", "SHELLOPTS", "BASHOPTS", "PWD", "UID"],
)
def test_a_tests_own_bash_variables_give_the_same_result_started_directly_or_by_bash(tmp_path, env):
    """The test's own ``env`` is exported by the run script, after bash started: a program
    that is a bash script reads ``BASH_ENV`` from it either way, and bash refuses to export
    its read-only ``SHELLOPTS``/``BASHOPTS``. Started directly, the program must see what
    it sees from bash: the same output, the same verdict."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "prog.sh").write_text(
        '#!/bin/bash\necho "from_setup=${FROM_SETUP:-unset} opts=$- ext=$(shopt -q extglob'
        ' && echo on || echo off) pwd=$(printenv PWD | sed "s|.*/stage/[^/]*$|STAGE|")'
        ' uid=$(printenv UID)"\n'
    )
    (src / "prog.sh").chmod(0o755)
    (src / "setup.sh").write_text("export FROM_SETUP=yes\n")
    (tmp_path / "test_own.py").write_text(OWN_ENV.format(n="", env=repr(env)))
    result = run_assay("run", "test_own.py", "--plain", cwd=tmp_path)
    by_name = {c["test"]: c for c in result.report["cases"]}
    outputs = {}
    for name, case in by_name.items():
        out = tmp_path / case["output_dir"] / "assay-run.out"
        outputs[name] = out.read_text()
    assert outputs["Direct"] == outputs["Bash"], outputs
    assert by_name["Direct"]["status"] == by_name["Bash"]["status"]
