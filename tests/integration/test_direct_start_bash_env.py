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
