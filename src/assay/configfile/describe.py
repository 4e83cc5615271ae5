"""The configuration as plain data, for ``assay config``."""

from __future__ import annotations

from typing import Any

import msgspec

from assay.config import Config
from assay.durations import Duration


def describe(config: Config) -> dict[str, Any]:
    """The configuration as plain data (for ``assay config``), with the module commands
    each environment runs (``module_commands``: what its build and run scripts do); a
    database password is shown as ``***``."""
    systems = msgspec.to_builtins(dict(config.systems), enc_hook=_as_text)
    for system in systems.values():
        if system.get("results"):  # (imported only then: every run describes its config)
            from assay.results.db.postgres import redact

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
