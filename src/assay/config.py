"""Systems, partitions and environments: what a configuration is (the models of its TOML
file, validated by msgspec) and the partition and configuration objects the rest of assay uses.

Reading the file (which one, parsing, the embedded default) is :mod:`assay.configfile.load`,
the checks across its fields :mod:`assay.configfile.checks`, and its description for
``assay config`` :mod:`assay.configfile.describe`; their public names are imported from here
as before (loaded on first use: they import this module).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from assay.durations import Duration
from assay.errors import ConfigError, did_you_mean
from assay.lazy import exports
from assay.results.detection import DEFAULTS, Settings

if TYPE_CHECKING:
    from assay.configfile.checks import results_problem, slurm_problems
    from assay.configfile.describe import describe
    from assay.configfile.load import (
        BUILTIN_ENVIRONMENT,
        DEFAULT_SOURCE,
        default_config,
        find_config_file,
        load_config,
        parse_config,
    )

GpuRequest = Literal["gpus-per-node", "gres"]
"""How a partition asks Slurm for a case's GPUs (``[...slurm] gpu_request``):
``--gpus-per-node=N`` or ``--gres=gpu:N`` (:mod:`assay.schedulers.gpus`)."""

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
    gpu_request: GpuRequest = "gpus-per-node"  # how a case's gpus_per_node is asked for
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


BRING_BACK_ROOM = 160 << 20
"""Bytes of files one answer of the host agent can carry (its frames are at most 256 MiB,
of base64: :data:`assay.transports.hostagent.protocol.MAX_FRAME`)."""
BRING_BACK_LOGS = 4
"""The job's own logs brought back with a stage's other files, each up to ``bring_back``."""


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
    bring_back_kept: NonNegativeInt = 64 << 20  # bytes per case of keep_files, whole

    def __post_init__(self) -> None:
        # What comes back from a job is one answer of the host agent, whose frames are
        # capped (a hostile host cannot make assay read gigabytes): the caps must fit in it.
        needed = self.bring_back_kept + self.bring_back_total + BRING_BACK_LOGS * self.bring_back
        if needed > BRING_BACK_ROOM:
            raise ValueError(
                f"bring_back_kept + bring_back_total + {BRING_BACK_LOGS} x bring_back come "
                f"to {needed} bytes, more than one answer from the host carries "
                f"({BRING_BACK_ROOM}); lower them, and fetch larger outputs with `assay fetch`"
            )


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

    def __post_init__(self) -> None:
        # "~/x" is the home directory's x, as in a shell (not a directory named "~").
        for key in ("prefix", "store", "results"):
            value = getattr(self, key)
            if value is not None and value.startswith("~"):
                msgspec.structs.force_setattr(self, key, os.path.expanduser(value))


class Detection(_Strict, kw_only=True, frozen=True):
    """``[detection]``: how a metric's regressions are told from noise (docs/history.md)."""

    alpha: float = DEFAULTS.alpha
    min_size: int = DEFAULTS.min_size
    recent: int = DEFAULTS.recent
    min_change: float = DEFAULTS.min_change
    max_points: int = DEFAULTS.max_points

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
    # ``system:name``, read several times per case: an attribute, not a property.
    full_name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "full_name", f"{self.system}:{self.name}")

    @property
    def max_jobs(self) -> int:
        return self.config.max_jobs or os.cpu_count() or 1

    @property
    def time_limit(self) -> Duration | None:
        return self.config.time_limit

    @property
    def cpus_per_node(self) -> int:
        return self.config.resources.cpus_per_node or os.cpu_count() or 1


class Config(msgspec.Struct, frozen=True):
    """A validated configuration and where it came from."""

    source: str
    systems: Mapping[str, System]
    environments: Mapping[str, Environment]
    detection: Detection = msgspec.field(default_factory=Detection)

    def system(self, name: str | None = None, hostname: str | None = None) -> tuple[str, System]:
        """The system named ``name``, else the first whose hostnames match this host."""
        if name is not None:
            if name not in self.systems:
                from assay.configfile import system_hints  # lazy: an error only

                raise ConfigError(
                    f"{self.source}: no system named {name!r}{did_you_mean(name, self.systems)}; "
                    f"systems: {', '.join(self.systems)}",
                    hint=system_hints.named(name, self.systems),
                )
            return name, self.systems[name]
        host = hostname or os.uname().nodename
        for sys_name, system in self.systems.items():
            if any(fnmatch.fnmatchcase(host, pattern) for pattern in system.hostnames):
                return sys_name, system
        from assay.configfile import system_hints  # lazy: an error only

        raise ConfigError(
            f"{self.source}: no system's hostnames match this host {host!r}",
            hint=system_hints.unmatched(
                host, (p for s in self.systems.values() for p in s.hostnames)
            ),
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


# The rest of the configuration code imports this module: its names are loaded on first use.
__getattr__ = exports(
    __name__,
    {
        "BUILTIN_ENVIRONMENT": "assay.configfile.load",
        "DEFAULT_SOURCE": "assay.configfile.load",
        "default_config": "assay.configfile.load",
        "find_config_file": "assay.configfile.load",
        "load_config": "assay.configfile.load",
        "parse_config": "assay.configfile.load",
        "results_problem": "assay.configfile.checks",
        "slurm_problems": "assay.configfile.checks",
        "describe": "assay.configfile.describe",
    },
)

__all__ = [
    "BUILTIN_ENVIRONMENT",
    "DEFAULT_SOURCE",
    "Config",
    "Detection",
    "Environment",
    "Partition",
    "PartitionRef",
    "Resources",
    "Slurm",
    "Ssh",
    "System",
    "default_config",
    "describe",
    "find_config_file",
    "load_config",
    "parse_config",
    "results_problem",
    "slurm_problems",
]
