"""Module commands in scripts: their text for each module system, quoting, and the checks
on module names at config load. (Lmod and Environment Modules themselves run in
tests/integration/test_modules.py.)"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from assay.config import Environment, Partition, parse_config
from assay.errors import ConfigError
from assay.modules import MODULE_FAILED, module_lines
from assay.run import scripts
from assay.run.module_check import ModuleChecks, reason
from assay.schedulers.direct import DirectScheduler
from assay.transports.local import LocalTransport


def _config(env: str) -> str:
    return f'[systems.s.partitions.p]\nenvironments = ["e"]\n[environments.e]\n{env}\n'


def test_no_modules_no_lines() -> None:
    assert module_lines(Environment()) == []
    text = scripts.run_script("t", [], Path("/tmp"), Environment(), Partition(), {}, [], "x", [])
    assert "module" not in text


def test_use_purge_swap_load_in_that_order_each_ending_the_script_on_failure() -> None:
    env = Environment(
        modules=["gcc/12", "openmpi"],
        modules_use=["/opt/mf"],
        modules_purge=True,
        modules_swap={"gcc/11": "gcc/12"},
    )
    lines = [line for line in module_lines(env) if line.startswith("module ")]
    assert lines == [
        "module use /opt/mf || { echo 'assay: module use /opt/mf failed' >&2; "
        f"exit {MODULE_FAILED}; }}",
        f"module purge || {{ echo 'assay: module purge failed' >&2; exit {MODULE_FAILED}; }}",
        "module swap gcc/11 gcc/12 || { echo 'assay: module swap gcc/11 gcc/12 failed' >&2; "
        f"exit {MODULE_FAILED}; }}",
        "module load gcc/12 openmpi || { echo 'assay: module load gcc/12 openmpi failed' >&2; "
        f"exit {MODULE_FAILED}; }}",
    ]


def test_modules_come_before_the_variables_in_build_and_run_scripts() -> None:
    env = Environment(modules=["gcc/12"], variables={"OMP_NUM_THREADS": "2"})
    for text in (
        scripts.build_script("t", Path("/s"), env, Partition(), {}, ["make"]),
        scripts.run_script("t", [], Path("/s"), env, Partition(), {}, [], "./a", []),
    ):
        assert text.index("module load gcc/12") < text.index("export OMP_NUM_THREADS")
        assert text.index("cd /s") < text.index("module load gcc/12")


def test_each_module_system_is_found_its_own_way() -> None:
    lmod = "\n".join(module_lines(Environment(modules=["m"], modules_system="lmod")))
    assert '"$LMOD_PKG/init/bash"' in lmod and "$LMOD_CMD" in lmod
    assert "/etc/profile.d/lmod.sh" in lmod
    assert "modulecmd" not in lmod and "MODULESHOME" not in lmod
    tcl = "\n".join(module_lines(Environment(modules=["m"], modules_system="environment-modules")))
    assert '"$MODULESHOME/init/bash"' in tcl and "/usr/share/modules/init/bash" in tcl
    assert 'eval "$(modulecmd bash "$@")"' in tcl
    assert "LMOD" not in tcl
    auto = "\n".join(module_lines(Environment(modules=["m"])))
    assert auto.index("LMOD_PKG") < auto.index("MODULESHOME")
    init = module_lines(Environment(modules=["m"], modules_init="/site/my init.sh"))
    assert init[1].startswith(". '/site/my init.sh' || ")


_LOOKED_AT = {
    "lmod": ["/etc/profile.d/lmod.sh", "/usr/share/lmod/lmod/init/bash"],
    "environment-modules": ["/etc/profile.d/modules.sh", "/usr/share/modules/init/bash"],
}


@pytest.mark.parametrize("system", ["lmod", "environment-modules"])
def test_where_the_module_system_is_missing_the_script_says_so_and_exits(
    tmp_path: Path, system: str
) -> None:
    # Runs where that system's default files are absent (Debian's lmod and
    # environment-modules conflict, so on a machine with one the other's branch runs here);
    # an environment without $LMOD_*/$MODULESHOME and a PATH without modulecmd.
    if any(Path(p).exists() for p in _LOOKED_AT[system]):
        pytest.skip(f"{system} is installed here")
    env = Environment(modules=["m"], modules_system=system)  # type: ignore[arg-type]
    script = tmp_path / "s.sh"
    script.write_text("\n".join(module_lines(env)) + "\necho after\n")
    proc = subprocess.run(
        ["/bin/bash", str(script)],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == MODULE_FAILED
    assert f"assay: no module command for the {system} module system" in proc.stderr
    assert "after" not in proc.stdout


def test_module_names_are_quoted_words() -> None:
    env = Environment(modules=["a b", "x;rm -rf /", "$(id)", "it's"])
    line = next(ln for ln in module_lines(env) if ln.startswith("module load"))
    assert line.startswith("module load 'a b' 'x;rm -rf /' '$(id)' 'it'\"'\"'s' || ")


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('modules = ["gcc\\n/12"]', "environments.e.modules[0]"),
        ('modules = ["ok", "x\\u001b[2J"]', "environments.e.modules[1]"),
        ('modules_use = ["/opt/\\rmf"]', "environments.e.modules_use[0]"),
        ('modules_swap = { "gcc/11" = "gcc\\n12" }', 'environments.e.modules_swap."gcc/11"'),
        ('modules_init = "/x\\n"', "environments.e.modules_init"),
    ],
)
def test_control_characters_in_module_settings_are_refused(setting: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config(setting), "a.toml")
    assert f"a.toml: {key}" in str(info.value)


@pytest.mark.parametrize("name", ["", " gcc", "--force", "-f"])
def test_names_a_module_command_would_misread_are_refused(name: str) -> None:
    with pytest.raises(
        ConfigError, match=r"environments\.e\.modules\[0\]: .* is not a module name"
    ):
        parse_config(_config(f'modules = ["{name}"]'), "a.toml")


def test_bad_module_system_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="lmod"):
        parse_config(_config('modules_system = "spack"'), "a.toml")


def test_reason_keeps_the_module_systems_own_words() -> None:
    lmod = (
        "\n\nLmod has detected the following error: The following module(s) are unknown:\n"
        '"gamma/9"\n\nPlease check the spelling\n\nassay: module load gamma/9 failed\n'
    )
    assert reason("e", MODULE_FAILED, lmod) == (
        "environment e: module load gamma/9 failed: Lmod has detected the following error: "
        'The following module(s) are unknown: "gamma/9" Please check the spelling'
    )
    tcl = "ERROR: Unable to locate a modulefile for 'gamma/9'\nassay: module load gamma/9 failed\n"
    assert reason("e", MODULE_FAILED, tcl).endswith(
        "failed: ERROR: Unable to locate a modulefile for 'gamma/9'"
    )
    assert reason("e", 2, "") == "environment e: the module commands exited with 2"


def test_reason_shows_control_characters_instead_of_sending_them() -> None:
    text = reason("e", MODULE_FAILED, "\x1b[31mERROR\x1b[0m: no such module\r\n")
    assert "\x1b" not in text and "\r" not in text
    assert "\\x1b[31mERROR" in text


def test_each_environment_s_scripts_have_its_own_module_lines_as_environments_come_and_go() -> None:
    """The run scripts keep each environment's module lines (worked out once per
    environment object), also when many environments were seen before (tests, configs)."""
    for i in range(150):  # past what is kept: lines are worked out again, never mixed up
        env = Environment(modules=[f"gcc/{i}"]) if i % 2 else Environment()
        text = scripts.run_script("t", [], Path("/s"), env, Partition(), {}, [], "./a", [])
        assert (f"module load gcc/{i} ||" in text) == bool(i % 2)
        assert ("module load" in text) == bool(i % 2)
        direct = scripts.direct_command("./a", env, Partition(), {}, [], [], [])
        assert (direct is None) == bool(i % 2)


def _failing_module_init(tmp_path: Path) -> Path:
    init = tmp_path / "init.sh"
    init.write_text('module() { echo "no module named $2" >&2; return 1; }\n')
    return init


@pytest.mark.parametrize("planted", ["m.sh", "m.err"])
def test_a_link_planted_in_the_module_checks_directory_is_not_followed(
    tmp_path: Path, planted: str
) -> None:
    # A case of another environment, running meanwhile as the user, puts links to a file of
    # the user's at the names the session's module check writes (its script) and reads
    # (the module system's message, shown in the report).
    checks_dir = tmp_path / "session" / "modules"
    checks_dir.mkdir(parents=True)
    victim = tmp_path / "secret"
    victim.write_text("the user's\n")
    (checks_dir / planted).symlink_to(victim)
    env = Environment(modules=["m"], modules_init=str(_failing_module_init(tmp_path)))

    async def check() -> tuple[str, str] | None:
        scheduler = DirectScheduler(LocalTransport())
        return await ModuleChecks(checks_dir, scheduler, asyncio.Semaphore(1)).problem("m", env)

    problem = asyncio.run(check())
    assert victim.read_text() == "the user's\n"
    assert problem is not None and "the user's" not in problem[1]
    assert "no module named m" in problem[0]
