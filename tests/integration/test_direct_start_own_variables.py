"""A plain command started without bash gets what bash would have given it when the test's
own variables name what bash treats specially. bash reads ``BASH_ENV``, ``SHELLOPTS`` and
``BASHOPTS`` only from the environment it starts in; the script exports the test's
variables after that, so a test's own ``BASH_ENV`` is not sourced by the script's bash
(only by a bash the command starts, which the direct start gives it too). But bash
refuses to set ``SHELLOPTS``/``BASHOPTS`` (read-only), counts ``SHLVL`` down as it execs,
and keeps ``PWD``/``OLDPWD`` as exported after its ``cd``: the direct start must not do
otherwise. Each case runs twice: as a command of plain words (started directly) and with a
quoted word (bash runs the script, which ``exec``s the program all the same)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.schedulers.local_exec import _BASH_OWN
from tests.conftest import run_assay

STAGE = re.compile(r"/\S*/stage/(Direct|Bash)[0-9]+-[0-9a-f]+")
WATCHED = ("GREETING", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "SHLVL", "PWD", "OLDPWD", "UID")
WATCHED += ("OPTIND", "BASH_SUBSHELL")

SHOW = """#!/bin/bash
echo "GREETING=${GREETING-unset} from a bash the command started"
"""

CASE = """
class {kind}{index}(assay.Test):
    command = {command!r}
    env = {env!r}
"""

VARIABLES = {
    "BASH_ENV": None,  # the sourced file, written by the test
    "SHELLOPTS": "xtrace",
    "BASHOPTS": "extglob",
    "SHLVL": "7",
    "PWD": "/nowhere",
    "OLDPWD": "/elsewhere",
    "UID": "12345",
    "OPTIND": "9",
    "BASH_SUBSHELL": "3",
}


def _watched(output_dir: Path) -> list[str]:
    """The watched variables as the command saw them, its stage dir written <stage>."""
    text = STAGE.sub("<stage>", (output_dir / "assay-run.out").read_text())
    return sorted(line for line in text.splitlines() if line.split("=", 1)[0] in WATCHED)


@pytest.mark.parametrize("command", ["env", "show"])
def test_the_tests_own_special_variables_reach_the_command_as_bash_passes_them(
    tmp_path: Path, command: str
) -> None:
    setup = tmp_path / "setup.sh"
    setup.write_text("export GREETING=from-bash-env\n")
    show = tmp_path / "show"
    show.write_text(SHOW)
    show.chmod(0o755)
    program = str(show) if command == "show" else "env"
    cases = ["import assay\n"]
    for index, (name, value) in enumerate(VARIABLES.items()):
        env = {name: str(setup) if value is None else value}
        for kind, args in (("Direct", "-u NOPE"), ("Bash", "-u 'NOPE'")):
            line = f"{program} {args}"  # the program `show` ignores them
            cases.append(CASE.format(kind=kind, index=index, command=line, env=env))
    (tmp_path / "test_special.py").write_text("".join(cases))
    result = run_assay("run", "test_special.py", "--plain", cwd=tmp_path)
    assert result.report["summary"]["total"] == 2 * len(VARIABLES), result
    differ = {}
    for index, name in enumerate(VARIABLES):
        direct, bash = (result.case(f"{kind}{index}") for kind in ("Direct", "Bash"))
        assert direct["status"] == bash["status"], name
        seen = _watched(Path(str(direct["output_dir"])))
        if seen != _watched(Path(str(bash["output_dir"]))):
            differ[name] = (seen, _watched(Path(str(bash["output_dir"]))))
        if name == "BASH_ENV" and command == "show":
            # Not sourced by the script's bash; sourced by the bash the command is.
            assert (
                "GREETING=from-bash-env from a bash the command started"
                in (Path(str(direct["output_dir"])) / "assay-run.out").read_text()
            )
        if name == "BASH_ENV" and command == "env":
            assert "GREETING=from-bash-env" not in seen and f"BASH_ENV={setup}" in seen
    assert not differ, "\n".join(f"{k}: direct {d}, bash {b}" for k, (d, b) in differ.items())


def test_a_tests_own_bash_env_keeps_the_direct_start(tmp_path: Path) -> None:
    """bash would not source it before the command (it is exported too late): the direct
    start, which saves a bash per case, stays."""
    from assay.schedulers.local_exec import direct_start

    setup = tmp_path / "setup.sh"
    setup.write_text("export GREETING=from-bash-env\n")
    started = direct_start((["env"], {"BASH_ENV": str(setup)}), tmp_path, drop_caps=False)
    assert started is not None and started.env["BASH_ENV"] == str(setup)


@pytest.mark.parametrize("name", sorted(_BASH_OWN))
def test_a_variable_bash_sets_itself_keeps_bash(tmp_path: Path, name: str) -> None:
    """Whichever of them the test sets, bash decides what the program gets."""
    from assay.schedulers.local_exec import direct_start

    assert direct_start((["env"], {name: "1"}), tmp_path, drop_caps=False) is None
    assert direct_start((["env"], {"NOT_" + name: "1"}), tmp_path, drop_caps=False) is not None
