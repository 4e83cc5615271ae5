"""Which configuration file, and reading it: ``--config FILE``, else ``$ASSAY_CONFIG``, else
``./assay.toml``, else the embedded default (one local system, one partition with
``max_jobs`` = CPU count, one environment using the compilers on ``PATH``).

Every problem is reported as ``FILE: key.path: what is wrong; the fix``.
"""

from __future__ import annotations

import os
from pathlib import Path

from assay.compare.binary import not_a_file
from assay.config import Config, Environment, Partition, System, _File
from assay.configfile.checks import check_semantics
from assay.errors import ConfigError
from assay.files import display_path
from assay.validation import Invalid, convert, load_toml, read_utf8

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


def _not_a_file(path: Path) -> str:
    """Why ``path``, which is no regular file, is not read: missing, or what it is."""
    try:
        kind = not_a_file(str(path))
    except OSError:
        return "no such file"
    return f"is a {kind}, not a regular file"


def find_config_file(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The config file to use, or ``None`` for the embedded default."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--config {explicit}: {_not_a_file(path)}")
        return path
    env = os.environ.get("ASSAY_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(
                f"ASSAY_CONFIG={env}: {_not_a_file(path)}", hint="unset it or fix the path"
            )
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
    source = display_path(path)
    if _last is not None and _last[0] == (source, text):
        return _last[1]
    try:
        return _keep((source, text), parse_config(text, source))
    except ConfigError as exc:
        if path.suffix != ".py" or exc.hint:
            raise
        # ReFrame's -c is the test path and its config a Python file (-C): a ReFrame user's
        # `assay run -c test.py` gave assay a test file as its config.
        raise ConfigError(
            exc.message,
            hint=f"-c is assay's config file, in TOML (docs/config.md); give test files as "
            f"arguments: `assay run {source}` (ReFrame's -c is assay's PATHS, see "
            "docs/from-reframe.md)",
        ) from None


# The last file parsed, by where it was shown and its text, with its config: a run reads
# the config twice (once to connect to its SSH hosts while it loads, once to plan), and
# parsing and validating it costs ~0.3-0.5 ms. Only a byte-for-byte equal text is reused.
_last: tuple[tuple[str, str], Config] | None = None


def _keep(key: tuple[str, str], config: Config) -> Config:
    global _last
    _last = (key, config)
    return config


def parse_config(text: str, source: str) -> Config:
    """Parse and validate TOML config text; ``source`` names it in messages."""
    try:
        parsed = convert(load_toml(text), _File)
    except Invalid as exc:
        raise ConfigError(f"{source}: {exc}", hint=_system_key_hint(exc)) from None
    environments = {"builtin": BUILTIN_ENVIRONMENT, **parsed.environments}
    check_semantics(parsed, environments, source)
    for problem in parsed.detection.settings().problems():
        raise ConfigError(f"{source}: detection: {problem}")
    return Config(
        source=source,
        systems=parsed.systems,
        environments=environments,
        detection=parsed.detection,
    )


def _system_key_hint(exc: Invalid) -> str | None:
    """The fix for a key of a system (``results``, ``prefix``...) written at the top level,
    where the file has only systems, environments and detection."""
    name = exc.message.split("'")[1] if exc.message.startswith("unknown key '") else None
    if exc.path != "(top level)" or name not in System.__struct_fields__:
        return None
    return (
        f"{name} belongs to a system: write it under the system's table, e.g. "
        f"[systems.NAME] then {name} = ... (docs/config.md)"
    )
