"""The checks of a configuration across its fields, after its types are (msgspec): names,
sbatch options, modules, transports, variables, results databases. Each raises
:class:`~assay.errors.ConfigError` as ``FILE: key.path: what is wrong; the fix``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping

from assay.config import Environment, Partition, Slurm, System, _File
from assay.errors import ConfigError, did_you_mean, toml_key
from assay.shell import CONTROL

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# sbatch options that assay gives every job itself (the command line wins over a
# directive, so these would be ignored), or that would run something else than the job
# script; each with its short form.
_OWN_OPTIONS: dict[str, str] = {
    "job-name": "J",
    "output": "o",
    "error": "e",
    "chdir": "D",
    "array": "a",
}


def slurm_problems(slurm: Slurm) -> list[tuple[str, str]]:
    """(key, what is wrong) for Slurm settings that would not reach sbatch as written:
    a control character (no ``#SBATCH`` line can hold a newline, and a value's newline
    would start a line of its own), an option list entry that is not one option, or an
    option that assay sets itself."""
    values: list[tuple[str, str | None]] = [
        (key, getattr(slurm, key))
        for key in ("partition", "account", "qos", "constraint", "gres", "reservation", "python")
    ]
    values += [(f"options[{i}]", o) for i, o in enumerate(slurm.options)]
    values += [(f"command_options[{i}]", o) for i, o in enumerate(slurm.command_options)]
    problems = []
    for key, value in values:
        bad = None if value is None else CONTROL.search(value)
        if bad is not None:
            problems.append(
                (key, f"{value!r} holds the control character {bad.group(0)!r}; remove it")
            )
    if slurm.gpu_request == "gres" and slurm.gres and gres_names_gpus(slurm.gres):
        problems.append(
            (
                "gres",
                f'{slurm.gres!r} asks every job for GPUs, and gpu_request = "gres" adds each '
                "case's gpus_per_node to the same --gres, which sbatch refuses; remove the gpu "
                "entry (cases ask for their GPUs with gpus_per_node) or set "
                'gpu_request = "gpus-per-node"',
            )
        )
    for i, option in enumerate(slurm.options):
        why = _option_problem(option)
        if why:
            problems.append((f"options[{i}]", why))
    return problems


def gres_names_gpus(gres: str) -> bool:
    """Whether a ``--gres`` list already asks for GPUs (an entry ``gpu``, ``gpu:N`` or
    ``gpu:TYPE:N``)."""
    return any(entry.strip().split(":", 1)[0] == "gpu" for entry in gres.split(","))


def _option_problem(option: str) -> str | None:
    if not option.startswith("-"):
        return f'{option!r} is not an sbatch option: each entry is one option, such as "--mem=4G"'
    if option.startswith("--"):
        name = option[2:].split("=", 1)[0]
        # sbatch keeps the last of each: one here, after assay's own, would replace them.
        if name == "gres":
            return (
                f'{option!r}: give generic resources in the gres key (gres = "nvme:1"), '
                "which assay joins with the GPUs cases ask for; remove it from options"
            )
        if len(name) > len("gpus-per-") and "gpus-per-node".startswith(name):
            return (
                f"{option!r}: assay asks for each case's GPUs itself (its gpus_per_node, "
                "as gpu_request says); remove it from options"
            )
        # sbatch takes any unambiguous start of a long option's name
        own = [o for o in (*_OWN_OPTIONS, "wrap") if len(name) >= 2 and o.startswith(name)]
    else:
        letter = option[1:2]
        own = [o for o, short in _OWN_OPTIONS.items() if short == letter]
    if not own:
        return None
    if own[0] == "wrap":
        return f"{option!r}: --wrap would replace the case's job script; remove it"
    return f"{option!r}: assay sets --{own[0]} itself for every job; remove it"


def check_semantics(parsed: _File, environments: Mapping[str, Environment], source: str) -> None:
    def fail(path: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"{source}: {path}: {message}")

    if not parsed.systems:
        fail("systems", "no systems defined; add at least one [systems.NAME] table")
    for name, environment in parsed.environments.items():
        if not _NAME.fullmatch(name):
            fail(f"environments.{name}", "names use letters, digits, '.', '_' and '-' only")
        _check_variables(environment.variables, f"environments.{name}.variables", fail)
        _check_modules(environment, f"environments.{name}", fail)
    for sys_name, system in parsed.systems.items():
        where = f"systems.{toml_key(sys_name)}"
        if not _NAME.fullmatch(sys_name):
            fail(where, "system names use letters, digits, '.', '_' and '-' only")
        if system.results is not None:
            problem = results_problem(system.results)
            if problem:
                fail(f"{where}.results", problem)
        if not system.partitions:
            fail(f"{where}.partitions", "no partitions; add a [systems.NAME.partitions.NAME] table")
        for part_name, part in system.partitions.items():
            pwhere = f"{where}.partitions.{toml_key(part_name)}"
            if not _NAME.fullmatch(part_name):
                fail(pwhere, "partition names use letters, digits, '.', '_' and '-' only")
            if part.slurm.poll_min > part.slurm.poll_max:
                fail(f"{pwhere}.slurm.poll_min", "must not be larger than poll_max")
            for key, problem in slurm_problems(part.slurm):
                fail(f"{pwhere}.slurm.{key}", problem)
            if part.launcher_options and part.launcher == "none":
                fail(
                    f"{pwhere}.launcher_options",
                    'options for no launcher (launcher = "none"); name the launcher they are '
                    'for (launcher = "srun", "mpirun" or "mpiexec") or remove them',
                )
            for i, option in enumerate(part.launcher_options):
                bad = CONTROL.search(option)
                if bad is not None:
                    fail(
                        f"{pwhere}.launcher_options[{i}]",
                        f"{option!r} holds the control character {bad.group(0)!r}; remove it",
                    )
            _check_variables(part.variables, f"{pwhere}.variables", fail)
            _check_dependencies_from(system, part_name, part, pwhere, fail)
            _check_transport(part, pwhere, fail)
            if not part.environments:
                fail(f"{pwhere}.environments", "list at least one environment")
            for env in part.environments:
                if env not in environments:
                    fail(
                        f"{pwhere}.environments",
                        f"environment {env!r} is not defined{did_you_mean(env, environments)}"
                        f"; defined: {', '.join(environments)} (add an [environments.{env}] table)",
                    )


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def results_problem(value: str) -> str | None:
    """What is wrong with a ``results`` setting, if anything."""
    if not value.strip():
        return 'empty; give a file path, a "postgresql://..." URL, or "none"'
    bad = CONTROL.search(value)
    if bad is not None:
        return f"holds the control character {bad.group(0)!r}; remove it"
    scheme = _SCHEME.match(value)
    if scheme and scheme.group(1).lower() not in ("postgresql", "postgres"):
        return (
            f"{scheme.group(1)}:// databases are not supported; give a file path (SQLite), "
            'a "postgresql://user@host/database" URL, or "none"'
        )
    return None


def _check_modules(
    env: Environment, where: str, fail: typing.Callable[[str, str], typing.NoReturn]
) -> None:
    """Module names reach ``module`` as quoted words: no control character (a newline
    would end the command), no empty name, nothing the module command would read as one
    of its options."""
    names = [(f"modules[{i}]", m) for i, m in enumerate(env.modules)]
    names += [(f"modules_use[{i}]", m) for i, m in enumerate(env.modules_use)]
    for old, new in env.modules_swap.items():
        names += [(f"modules_swap.{toml_key(old)}", old), (f"modules_swap.{toml_key(old)}", new)]
    for key, name in names:
        bad = CONTROL.search(name)
        if bad is not None:
            fail(
                f"{where}.{key}",
                f"{name!r} holds the control character {bad.group(0)!r}; remove it",
            )
        if not name.strip() or name != name.strip() or name.startswith("-"):
            fail(
                f"{where}.{key}",
                f"{name!r} is not a module name: no blank names, no spaces around it, "
                'none starting with "-" (e.g. "gcc/12")',
            )
    init = env.modules_init
    bad = None if init is None else CONTROL.search(init)
    if init is not None and (bad is not None or not init.strip()):
        fail(f"{where}.modules_init", f"{init!r} is not a file path; give the init script's path")


def _check_dependencies_from(
    system: System,
    name: str,
    part: Partition,
    where: str,
    fail: typing.Callable[[str, str], typing.NoReturn],
) -> None:
    for other in part.dependencies_from:
        if other == name:
            fail(f"{where}.dependencies_from", f"{other!r} is this partition; list other ones")
        if other not in system.partitions:
            fail(
                f"{where}.dependencies_from",
                f"no partition named {other!r} in this system"
                f"{did_you_mean(other, system.partitions)}; "
                f"partitions: {', '.join(system.partitions)}",
            )


def _check_transport(
    part: Partition, where: str, fail: typing.Callable[[str, str], typing.NoReturn]
) -> None:
    if part.transport == "ssh" and part.ssh is None:
        fail(
            f"{where}.ssh",
            'transport = "ssh" needs the host: add ssh = { host = "login.example.org" }',
        )
    if part.transport != "ssh" and part.ssh is not None:
        fail(
            f"{where}.ssh",
            'SSH settings for a partition with transport = "local"; '
            'set transport = "ssh" or remove them',
        )
    if part.ssh is None:
        return
    for key in (
        "host",
        "user",
        "identity",
        "proxy_jump",
        "known_hosts",
        "config",
        "workdir",
        "python",
    ):
        value = getattr(part.ssh, key)
        bad = None if value is None else CONTROL.search(value)
        if bad is not None:
            fail(
                f"{where}.ssh.{key}",
                f"{value!r} holds the control character {bad.group(0)!r}; remove it",
            )
    if not part.ssh.host or part.ssh.host.startswith("-"):
        fail(f"{where}.ssh.host", f"{part.ssh.host!r} is not a host name")
    for hop in (part.ssh.proxy_jump or "x").split(","):
        user, _, host = hop.rpartition("@")
        if not _JUMP_HOST.fullmatch(host) or (user and not _JUMP_USER.fullmatch(user)):
            fail(
                f"{where}.ssh.proxy_jump",
                f"{hop!r} is not a jump host: write [user@]host[:port], several separated "
                'by commas, as ssh -J takes them ("me@gateway.example.org:2222")',
            )
    if part.ssh.user is not None and (not part.ssh.user or part.ssh.user.startswith("-")):
        fail(f"{where}.ssh.user", f"{part.ssh.user!r} is not a user name")
    if not part.ssh.workdir.strip() or part.ssh.workdir.strip() in ("/", "~", "."):
        fail(
            f"{where}.ssh.workdir",
            "give a directory of its own for assay's files on the host, "
            'e.g. ".assay" (in the remote home) or "/scratch/me/assay"',
        )


_JUMP_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.][A-Za-z0-9_.-]*)(?::[0-9]{1,5})?")
_JUMP_USER = re.compile(r"[^\s@,:-][^\s@,:]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_variables(
    variables: Mapping[str, str], where: str, fail: typing.Callable[[str, str], typing.NoReturn]
) -> None:
    """Names every script can export (the values may hold anything)."""
    for name in variables:
        if not _VARIABLE.fullmatch(name):
            fail(
                where,
                f"{name!r} is not a variable name: letters, digits and _, "
                "not starting with a digit",
            )
