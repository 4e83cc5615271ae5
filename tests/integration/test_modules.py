"""Environment modules against a real Lmod (Debian's ``lmod``, installed by scripts/test-all)
and a modulefile tree made here: two "compilers" that put different wrappers on PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import write_tree

LMOD_INIT = Path("/usr/share/lmod/lmod/init/bash")

pytestmark = pytest.mark.skipif(
    not LMOD_INIT.exists() and not os.environ.get("ASSAY_REQUIRE_LMOD"),
    reason="Lmod is not installed (scripts/test-all installs it)",
)

WRAPPER = """#!/bin/bash
# a "compiler" of this module: says who it is, then compiles with gcc
echo "compiled by {name}" > compiler.txt
exec gcc -DCOMPILER='"{name}"' "$@"
"""

LUA = """
prepend_path("PATH", "{bin}")
setenv("ASSAY_TOY_COMPILER", "{name}")
"""

TCL = """#%Module
prepend-path PATH {bin}
setenv ASSAY_TOY_COMPILER {name}
"""

HELLO = '#include <stdio.h>\nint main(void) { printf("built with %s\\n", COMPILER); return 0; }\n'

TESTS = """
import assay

class Build(assay.Test):
    sources = "src"
    build = ["toycc -o hello hello.c"]
    command = "./hello; echo runtime=$ASSAY_TOY_COMPILER"
    keep_files = ["compiler.txt"]
"""


def _tree(root: Path) -> Path:
    """Modulefiles: alpha/1.0 (Lua) and beta/2.0 (Tcl), each a toycc of its own."""
    mf = root / "mf"
    files: dict[str, str | bytes] = {}
    for name, ext, text in (("alpha/1.0", ".lua", LUA), ("beta/2.0", "", TCL)):
        bin_dir = root / "bin" / name.replace("/", "-")
        files[f"bin/{name.replace('/', '-')}/toycc"] = WRAPPER.format(name=name)
        files[f"mf/{name}{ext}"] = text.format(bin=bin_dir, name=name)
    write_tree(root, files, exe=tuple(k for k in files if k.endswith("toycc")))
    return mf


def _config(mf: Path, extra: str = "") -> str:
    return f"""
[systems.here]
partitions.cpu = {{ environments = ["alpha", "beta"{extra and ', "broken"'}] }}

[environments.alpha]
modules_use = ["{mf}"]
modules = ["alpha/1.0"]

[environments.beta]
modules_use = ["{mf}"]
modules_purge = true
modules = ["beta/2.0"]
{extra}
"""


def _env() -> dict[str, str]:
    # Nothing of a module system inherited: the scripts must find Lmod themselves.
    return {k: "" for k in os.environ if k.startswith(("LMOD", "MODULE", "BASH_FUNC_module"))}


@pytest.fixture
def project(tmp_path: Path, write) -> Path:
    mf = _tree(tmp_path / "modules")
    write("src/hello.c", HELLO)
    write("test_build.py", TESTS)
    write("assay.toml", _config(mf))
    return mf


def test_each_environment_builds_and_runs_with_its_modules_compiler(project, assay_cli):
    result = assay_cli("run", "test_build.py", "--plain", env=_env())
    assert result.code == 0, result
    for env, name in (("alpha", "alpha/1.0"), ("beta", "beta/2.0")):
        case = result.case(f"Build @here:cpu+{env}")
        out = Path(case["output_dir"])
        assert (out / "compiler.txt").read_text() == f"compiled by {name}\n"
        run_out = (out / "assay-run.out").read_text()
        assert f"built with {name}" in run_out
        assert f"runtime={name}" in run_out  # the run script loads the modules too
        for script in ("assay-build.sh", "assay-run.sh"):
            assert f"module load {name}" in (out / script).read_text()


def test_a_module_that_does_not_load_fails_the_case_at_setup_with_lmods_message(
    project, write, assay_cli
):
    write(
        "assay.toml",
        _config(
            project,
            f'[environments.broken]\nmodules_use = ["{project}"]\n'
            'modules = ["alpha/1.0", "gamma/9"]\n',
        ),
    )
    result = assay_cli("run", "test_build.py", "--plain", env=_env())
    assert result.code == 1, result
    case = result.case("Build @here:cpu+broken")
    assert case["status"] == "failed"
    failure = case["failure"]
    assert failure["stage"] == "setup"
    assert "environment broken: module load alpha/1.0 gamma/9 failed" in failure["reason"]
    assert "The following module(s) are unknown" in failure["reason"]  # Lmod's own words
    assert '"gamma/9"' in failure["details"]
    # the others are not held back by it
    assert result.case("Build @here:cpu+alpha")["status"] == "passed"


def test_module_names_are_quoted_not_run(project, write, assay_cli, tmp_path):
    marker = tmp_path / "ran"
    write(
        "assay.toml",
        _config(
            project, f'[environments.broken]\nmodules = ["x;touch {marker}", "$(touch {marker})"]\n'
        ),
    )
    result = assay_cli("run", "test_build.py", "--plain", env=_env())
    case = result.case("Build @here:cpu+broken")
    assert case["failure"]["stage"] == "setup", result
    assert not marker.exists()


def test_assay_config_shows_the_module_commands_of_each_environment(project, assay_cli):
    result = assay_cli("config")
    assert result.code == 0, result
    envs = json.loads(result.stdout)["environments"]
    assert envs["alpha"]["module_commands"] == [f"module use {project}", "module load alpha/1.0"]
    assert envs["beta"]["module_commands"] == [
        f"module use {project}",
        "module purge",
        "module load beta/2.0",
    ]
    assert envs["builtin"]["module_commands"] == []
