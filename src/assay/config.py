"""Systems, partitions and environments: the TOML configuration and its validation.

Which file: ``--config FILE``, else ``$ASSAY_CONFIG``, else ``./assay.toml``, else
the embedded default (one local system, one partition with ``max_jobs`` = CPU
count, one environment using the compilers on ``PATH``).

Every problem is reported as ``FILE: key.path: what is wrong; the fix``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from assay.durations import Duration
from assay.errors import ConfigError, did_you_mean, toml_key
from assay.files import display_path
from assay.results.changes import Settings
from assay.shell import CONTROL
from assay.validation import Invalid, convert, load_toml, read_utf8

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class Environment(_Strict, kw_only=True, frozen=True):
    """A programming environment: compilers, flags, variables, modules."""

    description: str = ""
    cc: str = "cc"
    cxx: str = "c++"
    fc: str = "gfortran"
    cflags: str = ""
    cxxflags: str = ""
    fflags: str = ""
    ldflags: str = ""
    variables: dict[str, str] = {}
    modules: list[str] = []  # `module load` these, in order (docs/config.md)
    modules_use: list[str] = []  # `module use DIR`: more modulefile trees, first
    modules_purge: bool = False  # `module purge` before the swaps and loads
    modules_swap: dict[str, str] = {}  # `module swap OLD NEW`, before the loads
    modules_system: Literal["auto", "lmod", "environment-modules"] = "auto"
    modules_init: str | None = None  # a script that defines `module`, sourced first
    prerun: list[str] = []

    def exports(self) -> dict[str, str]:
        """The variables this environment sets in build and run scripts."""
        out = {"CC": self.cc, "CXX": self.cxx, "FC": self.fc}
        for name, value in (
            ("CFLAGS", self.cflags),
            ("CXXFLAGS", self.cxxflags),
            ("FFLAGS", self.fflags),
            ("LDFLAGS", self.ldflags),
        ):
            if value:
                out[name] = value
        out.update(self.variables)
        return out

    def module_commands(self) -> list[list[str]]:
        """The module commands this environment runs, in order (use, purge, swaps, loads),
        as words."""
        out = [["module", "use", path] for path in self.modules_use]
        out += [["module", "purge"]] if self.modules_purge else []
        out += [["module", "swap", old, new] for old, new in self.modules_swap.items()]
        if self.modules:
            out.append(["module", "load", *self.modules])
        return out


class Resources(_Strict, kw_only=True, frozen=True):
    """What one node of a partition offers."""

    nodes: PositiveInt = 1
    cpus_per_node: PositiveInt | None = None
    gpus_per_node: NonNegativeInt = 0


class Slurm(_Strict, kw_only=True, frozen=True):
    """How a partition's jobs go to Slurm."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    gres: str | None = None
    reservation: str | None = None
    options: list[str] = []  # more sbatch options, e.g. ["--mem=4G"]
    command_options: list[str] = []  # for every Slurm command, e.g. ["-M", "cluster2"]
    poll_min: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    poll_max: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_pending: Duration | None = None
    requeue: bool = False
    pack: bool = True
    arrays: bool = True
    pack_time: Duration = Duration("30m")
    pack_case_limit: Duration = Duration("5m")
    max_queued: PositiveInt = 1000
    build: Literal["local", "job"] = "local"
    python: str = "python3"  # runs the pack runner and comparisons inside jobs


class Ssh(_Strict, kw_only=True, frozen=True):
    """How a partition's host is reached over SSH (``transport = "ssh"``). What is not set
    here comes from the user's OpenSSH client config (``~/.ssh/config``, or ``config``)."""

    host: str  # a host name, an address, or a Host alias of the ssh config
    user: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    identity: str | None = None  # a private key file
    proxy_jump: str | None = None  # [user@]host[:port], comma-separated for several hops
    known_hosts: str | None = None  # default: the ssh config's, else ~/.ssh/known_hosts
    config: str | None = None  # an ssh_config file instead of ~/.ssh/config
    workdir: str = ".assay"  # on the host; relative to the remote home
    store: str | None = None  # the host's store (a shared path); default WORKDIR/store
    python: str = "python3"  # runs assay's agent and comparisons on the host
    max_channels: PositiveInt = 8  # SSH channels open at once on the connection
    keepalive: Duration = Duration("15s")
    connect_timeout: Duration = Duration("20s")
    detach_timeout: Duration = Duration("10m")
    """How long a dropped connection is tried again, and how long the host's jobs keep
    running meanwhile; after it they are killed."""
    bring_back: NonNegativeInt = 1 << 20  # bytes: outputs up to this size come back whole
    bring_back_total: NonNegativeInt = 16 << 20  # bytes per case in all


class Partition(_Strict, kw_only=True, frozen=True):
    """A set of resources reached one way: transport x scheduler x launcher."""

    description: str = ""
    transport: Literal["local", "ssh"] = "local"
    scheduler: Literal["direct", "slurm"] = "direct"
    launcher: Literal["none", "mpirun", "mpiexec", "srun"] = "none"
    launcher_options: list[str] = []  # more words for the launcher, e.g. ["--mpi=pmix"]
    max_jobs: PositiveInt | None = None
    environments: list[str] = msgspec.field(default_factory=lambda: ["builtin"])
    time_limit: Duration | None = None
    dependencies_from: list[str] = []  # other partitions whose cases may serve as dependencies
    variables: dict[str, str] = {}
    prerun: list[str] = []
    resources: Resources = Resources()
    slurm: Slurm = Slurm()
    ssh: Ssh | None = None
    # Object storage the jobs fetch store artifacts from themselves (docs/store.md), and how
    # long the download links made at submit time stay valid.
    store_remote: str | None = None
    store_remote_expiry: Duration = Duration("12h")

    def __post_init__(self) -> None:
        if self.store_remote is not None and not self.store_remote.startswith("s3://"):
            raise ValueError(
                f"store_remote = {self.store_remote!r}: write the bucket as s3://BUCKET/PREFIX"
            )
        if self.store_remote_expiry > 7 * 86400:
            raise ValueError("store_remote_expiry: S3 signs download links for 7 days at most")


class System(_Strict, kw_only=True, frozen=True):
    """A configured place: which hosts it is, its partitions, where results go."""

    description: str = ""
    hostnames: list[str] = msgspec.field(default_factory=lambda: ["*"])
    prefix: str | None = None
    store: str | None = None
    # The results database: a file path, a postgresql:// URL, or "none" (no recording);
    # default PREFIX/results.sqlite.
    results: str | None = None
    partitions: dict[str, Partition]


class Detection(_Strict, kw_only=True, frozen=True):
    """``[detection]``: how a metric's regressions are told from noise (docs/history.md)."""

    alpha: float = Settings.alpha
    min_size: int = Settings.min_size
    recent: int = Settings.recent
    min_change: float = Settings.min_change
    max_points: int = Settings.max_points

    def settings(self) -> Settings:
        return Settings(**msgspec.structs.asdict(self))


class _File(_Strict, kw_only=True, frozen=True):
    systems: dict[str, System]
    environments: dict[str, Environment] = {}
    detection: Detection = msgspec.field(default_factory=Detection)


@dataclass(frozen=True)
class PartitionRef:
    """A partition of the selected system, with its resolved settings."""

    system: str
    name: str
    config: Partition

    @property
    def full_name(self) -> str:
        return f"{self.system}:{self.name}"

    @property
    def max_jobs(self) -> int:
        return self.config.max_jobs or os.cpu_count() or 1

    @property
    def time_limit(self) -> Duration | None:
        return self.config.time_limit

    @property
    def cpus_per_node(self) -> int:
        return self.config.resources.cpus_per_node or os.cpu_count() or 1


@dataclass(frozen=True)
class Config:
    """A validated configuration and where it came from."""

    source: str
    systems: Mapping[str, System]
    environments: Mapping[str, Environment]
    detection: Detection = field(default_factory=Detection)

    def system(self, name: str | None = None, hostname: str | None = None) -> tuple[str, System]:
        """The system named ``name``, else the first whose hostnames match this host."""
        if name is not None:
            if name not in self.systems:
                raise ConfigError(
                    f"{self.source}: no system named {name!r}{did_you_mean(name, self.systems)}; "
                    f"systems: {', '.join(self.systems)}"
                )
            return name, self.systems[name]
        host = hostname or os.uname().nodename
        for sys_name, system in self.systems.items():
            if any(fnmatch.fnmatchcase(host, pattern) for pattern in system.hostnames):
                return sys_name, system
        raise ConfigError(
            f"{self.source}: no system's hostnames match this host {host!r}",
            hint='add a pattern to a system\'s hostnames ("*" matches any host) '
            "or choose one with --system",
        )

    def partitions(self, system: str, max_jobs: int | None = None) -> list[PartitionRef]:
        """The partitions of ``system``; ``max_jobs`` overrides every partition's limit."""
        parts = self.systems[system].partitions.items()
        if max_jobs is not None:
            return [
                PartitionRef(system, n, msgspec.structs.replace(p, max_jobs=max_jobs))
                for n, p in parts
            ]
        return [PartitionRef(system, n, p) for n, p in parts]


DEFAULT_SOURCE = "<embedded default config>"
BUILTIN_ENVIRONMENT = Environment(description="compilers on PATH")


def default_config() -> Config:
    """One local system, one partition on this machine, one environment from ``PATH``."""
    partition = Partition(description="this machine")
    system = System(description="this machine", partitions={"default": partition})
    return Config(
        source=DEFAULT_SOURCE,
        systems={"local": system},
        environments={"builtin": BUILTIN_ENVIRONMENT},
    )


def find_config_file(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The config file to use, or ``None`` for the embedded default."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--config {explicit}: no such file")
        return path
    env = os.environ.get("ASSAY_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"ASSAY_CONFIG={env}: no such file", hint="unset it or fix the path")
        return path
    local = (cwd or Path.cwd()) / "assay.toml"
    return local if local.is_file() else None


def load_config(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Find, read and validate the configuration."""
    path = find_config_file(explicit, cwd)
    if path is None:
        return default_config()
    try:
        text = read_utf8(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except Invalid as exc:
        raise ConfigError(f"{display_path(path)}: {exc.message}") from None
    return parse_config(text, display_path(path))


def parse_config(text: str, source: str) -> Config:
    """Parse and validate TOML config text; ``source`` names it in messages."""
    try:
        parsed = convert(load_toml(text), _File)
    except Invalid as exc:
        raise ConfigError(f"{source}: {exc}") from None
    environments = {"builtin": BUILTIN_ENVIRONMENT, **parsed.environments}
    _check_semantics(parsed, environments, source)
    for problem in parsed.detection.settings().problems():
        raise ConfigError(f"{source}: detection: {problem}")
    return Config(
        source=source,
        systems=parsed.systems,
        environments=environments,
        detection=parsed.detection,
    )


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
    for i, option in enumerate(slurm.options):
        why = _option_problem(option)
        if why:
            problems.append((f"options[{i}]", why))
    return problems


def _option_problem(option: str) -> str | None:
    if not option.startswith("-"):
        return f'{option!r} is not an sbatch option: each entry is one option, such as "--mem=4G"'
    if option.startswith("--"):
        name = option[2:].split("=", 1)[0]
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


def _check_semantics(parsed: _File, environments: Mapping[str, Environment], source: str) -> None:
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
    if part.ssh.user is not None and (not part.ssh.user or part.ssh.user.startswith("-")):
        fail(f"{where}.ssh.user", f"{part.ssh.user!r} is not a user name")
    if not part.ssh.workdir.strip() or part.ssh.workdir.strip() in ("/", "~", "."):
        fail(
            f"{where}.ssh.workdir",
            "give a directory of its own for assay's files on the host, "
            'e.g. ".assay" (in the remote home) or "/scratch/me/assay"',
        )


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


def describe(config: Config) -> dict[str, Any]:
    """The configuration as plain data (for ``assay config``), with the module commands
    each environment runs (``module_commands``: what its build and run scripts do); a
    database password is shown as ``***``."""
    from assay.results.db.backends import redact

    systems = msgspec.to_builtins(dict(config.systems), enc_hook=_as_text)
    for system in systems.values():
        if system.get("results"):
            system["results"] = redact(system["results"])
    environments = msgspec.to_builtins(dict(config.environments), enc_hook=_as_text)
    for name, env in config.environments.items():
        environments[name]["module_commands"] = [" ".join(w) for w in env.module_commands()]
    return {
        "source": config.source,
        "systems": systems,
        "environments": environments,
    }


def _as_text(value: object) -> str:
    if isinstance(value, Duration):
        return str(value)
    raise NotImplementedError(f"assay bug: cannot show {value!r}")
