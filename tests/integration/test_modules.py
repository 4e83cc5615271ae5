"""Environment modules against a real Lmod (Debian's ``lmod``, installed by scripts/test-all)
and a real Environment Modules (Debian's ``environment-modules``, which conflicts with lmod:
unpacked into a prefix of its own by scripts/envmodules-ci), with a modulefile tree made
here: two "compilers" that put different wrappers on PATH. Every test runs against both."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_tree

LMOD_INIT = Path("/usr/share/lmod/lmod/init/bash")
ENVMODULES_PREFIX = Path(os.environ.get("ENVMODULES_CI_PREFIX", "/opt/assay-envmodules"))
ENVMODULES_INIT = ENVMODULES_PREFIX / "usr/share/modules/init/bash"


@pytest.fixture(params=["lmod", "environment-modules"])
def system(request: pytest.FixtureRequest) -> str:
    """The module system a test runs against. Lmod is skipped where it is not installed
    (unless ASSAY_REQUIRE_LMOD); Environment Modules only where its prefix is missing and
    this is not CI (CI, or ASSAY_REQUIRE_ENVMODULES, makes a missing prefix a failure)."""
    name: str = request.param
    if name == "lmod":
        if not LMOD_INIT.exists() and not os.environ.get("ASSAY_REQUIRE_LMOD"):
            pytest.skip("Lmod is not installed (scripts/test-all installs it)")
    elif not ENVMODULES_INIT.exists():
        if os.environ.get("CI") or os.environ.get("ASSAY_REQUIRE_ENVMODULES"):
            pytest.fail(
                f"Environment Modules is required here but {ENVMODULES_INIT} is missing: "
                "run scripts/envmodules-ci up"
            )
        pytest.skip(f"no Environment Modules in {ENVMODULES_PREFIX} (scripts/envmodules-ci up)")
    return name


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


def _tree(root: Path, system: str) -> Path:
    """Modulefiles: alpha/1.0 (Lua for Lmod, which reads both; Tcl for Environment Modules,
    which reads only Tcl) and beta/2.0 (Tcl), each a toycc of its own."""
    mf = root / "mf"
    files: dict[str, str | bytes] = {}
    alpha = ("alpha/1.0", ".lua", LUA) if system == "lmod" else ("alpha/1.0", "", TCL)
    for name, ext, text in (alpha, ("beta/2.0", "", TCL)):
        bin_dir = root / "bin" / name.replace("/", "-")
        files[f"bin/{name.replace('/', '-')}/toycc"] = WRAPPER.format(name=name)
        files[f"mf/{name}{ext}"] = text.format(bin=bin_dir, name=name)
    write_tree(root, files, exe=tuple(k for k in files if k.endswith("toycc")))
    return mf


def _how(system: str) -> str:
    """The environment keys that pick ``system``: Lmod is found where Debian puts it;
    Environment Modules is named, with the init script of its prefix."""
    if system == "lmod":
        return ""
    return f'modules_system = "environment-modules"\nmodules_init = "{ENVMODULES_INIT}"\n'


def _config(mf: Path, system: str, extra: str = "") -> str:
    how = _how(system)
    return f"""
[systems.here]
partitions.cpu = {{ environments = ["alpha", "beta"{extra and ', "broken"'}] }}

[environments.alpha]
modules_use = ["{mf}"]
modules = ["alpha/1.0"]
{how}
[environments.beta]
modules_use = ["{mf}"]
modules_purge = true
modules = ["beta/2.0"]
{how}
{extra}
"""


def _env() -> dict[str, str]:
    # Nothing of a module system inherited: the scripts must find Lmod themselves.
    return {k: "" for k in os.environ if k.startswith(("LMOD", "MODULE", "BASH_FUNC_module"))}


@pytest.fixture
def project(tmp_path: Path, write, system: str) -> Path:
    mf = _tree(tmp_path / "modules", system)
    write("src/hello.c", HELLO)
    write("test_build.py", TESTS)
    write("assay.toml", _config(mf, system))
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


# Each module system's own words for a module it cannot find.
UNKNOWN = {
    "lmod": ("The following module(s) are unknown", '"gamma/9"'),
    "environment-modules": ("Unable to locate a modulefile for 'gamma/9'", "'gamma/9'"),
}


def test_a_module_that_does_not_load_fails_the_case_at_setup_with_the_systems_message(
    project, write, assay_cli, system
):
    write(
        "assay.toml",
        _config(
            project,
            system,
            f'[environments.broken]\nmodules_use = ["{project}"]\n'
            f'modules = ["alpha/1.0", "gamma/9"]\n{_how(system)}',
        ),
    )
    result = assay_cli("run", "test_build.py", "--plain", env=_env())
    assert result.code == 1, result
    case = result.case("Build @here:cpu+broken")
    assert case["status"] == "failed"
    failure = case["failure"]
    assert failure["stage"] == "setup"
    assert "environment broken: module load alpha/1.0 gamma/9 failed" in failure["reason"]
    words, name = UNKNOWN[system]
    assert words in failure["reason"]  # the module system's own words
    assert name in failure["details"]
    # the others are not held back by it
    assert result.case("Build @here:cpu+alpha")["status"] == "passed"


def test_module_names_are_quoted_not_run(project, write, assay_cli, tmp_path, system):
    marker = tmp_path / "ran"
    write(
        "assay.toml",
        _config(
            project,
            system,
            f'[environments.broken]\nmodules = ["x;touch {marker}", "$(touch {marker})"]\n'
            + _how(system),
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


ONLY_ENVIRONMENT_MODULES = pytest.mark.parametrize("system", ["environment-modules"], indirect=True)
VERSION_TEST = """
import assay

class Which(assay.Test):
    command = "module --version 2>&1 | grep -m 1 Modules; echo runtime=$ASSAY_TOY_COMPILER"
"""

NAMED_NOT_INIT = """
[systems.here]
partitions.cpu = {{ environments = ["tcl"] }}

[environments.tcl]
modules_system = "environment-modules"
modules_use = ["{mf}"]
modules = ["beta/2.0"]
"""


@ONLY_ENVIRONMENT_MODULES
def test_environment_modules_is_found_through_moduleshome(project, system, write, assay_cli):
    """How a site's login shell leaves it: $MODULESHOME set, no modules_init."""
    write("assay.toml", NAMED_NOT_INIT.format(mf=project))
    write("test_which.py", VERSION_TEST)
    env = _env() | {"MODULESHOME": str(ENVMODULES_INIT.parent.parent)}
    result = assay_cli("run", "test_which.py", "--plain", env=env)
    assert result.code == 0, result
    out = (Path(result.case("Which")["output_dir"]) / "assay-run.out").read_text()
    assert out.startswith("Modules Release ")
    assert "runtime=beta/2.0" in out


def _lmod_login_environment() -> dict[str, str]:
    """The variables of a shell where Lmod was initialised (MODULESHOME, LMOD_*, and the
    exported `module` function), as a job inherits them on an Lmod site."""
    if not LMOD_INIT.exists():
        pytest.skip("Lmod is not installed (scripts/test-all installs it)")
    dump = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f". {LMOD_INIT} && export -f module && env -0"],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
    ).stdout.decode()
    found = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
    assert found.get("MODULESHOME", "").endswith("lmod") and "BASH_FUNC_module%%" in found
    return found


@ONLY_ENVIRONMENT_MODULES
def test_an_inherited_lmod_does_not_stand_in_for_environment_modules(
    project, system, write, assay_cli
):
    """modules_system = "environment-modules" in a job that inherits Lmod's `module` and
    $MODULESHOME: the script drops them and finds Environment Modules (here: its
    modulecmd on PATH), instead of silently loading the modules with Lmod."""
    write("assay.toml", NAMED_NOT_INIT.format(mf=project))
    write("test_which.py", VERSION_TEST)
    env = _lmod_login_environment()
    env["PATH"] = f"{ENVMODULES_PREFIX / 'usr/bin'}:{env['PATH']}"
    result = assay_cli("run", "test_which.py", "--plain", env=env)
    assert result.code == 0, result
    out = (Path(result.case("Which")["output_dir"]) / "assay-run.out").read_text()
    assert out.startswith("Modules Release "), out
    assert "runtime=beta/2.0" in out


@ONLY_ENVIRONMENT_MODULES
def test_an_inherited_environment_modules_does_not_stand_in_for_lmod(
    project, system, write, assay_cli
):
    """The other way round: modules_system = "lmod" under an inherited Environment
    Modules `module` finds Lmod."""
    if not LMOD_INIT.exists():
        pytest.skip("Lmod is not installed (scripts/test-all installs it)")
    write(
        "assay.toml",
        NAMED_NOT_INIT.format(mf=project).replace("environment-modules", "lmod"),
    )
    write("test_which.py", VERSION_TEST)
    dump = subprocess.run(
        [
            "bash",
            "--norc",
            "--noprofile",
            "-c",
            f". {ENVMODULES_INIT} && export -f module && env -0",
        ],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
    ).stdout.decode()
    env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
    assert "BASH_FUNC_module%%" in env
    result = assay_cli("run", "test_which.py", "--plain", env=env)
    assert result.code == 0, result
    out = (Path(result.case("Which")["output_dir"]) / "assay-run.out").read_text()
    assert out.startswith("Modules based on Lua"), out
    assert "runtime=beta/2.0" in out


@ONLY_ENVIRONMENT_MODULES
@pytest.mark.parametrize(
    ("named", "init", "found"),
    [
        ("lmod", ENVMODULES_INIT, "not Lmod's"),
        ("environment-modules", LMOD_INIT, "Lmod's"),
    ],
)
def test_a_module_command_of_the_other_system_fails_the_case_at_setup_saying_so(
    project, system, write, assay_cli, named, init, found
):
    """modules_init (or a site's /etc/profile.d/modules.sh, which Lmod's packages also
    install) that defines the other system's `module`: said, not used."""
    if not LMOD_INIT.exists():
        pytest.skip("Lmod is not installed (scripts/test-all installs it)")
    write(
        "assay.toml",
        NAMED_NOT_INIT.format(mf=project).replace("environment-modules", named)
        + f'modules_init = "{init}"\n',
    )
    write("test_which.py", VERSION_TEST)
    result = assay_cli("run", "test_which.py", "--plain", env=_env())
    assert result.code == 1, result
    failure = result.case("Which")["failure"]
    assert failure["stage"] == "setup"
    assert f"the module command found is {found}" in failure["reason"], failure
    assert f'modules_system = "{named}"' in failure["reason"]
