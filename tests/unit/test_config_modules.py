"""The configuration code in modules of one job each (the models, reading the file, its
checks, its description), and ``assay.config`` still the one place to import them from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import assay.config

SRC = Path(assay.config.__file__).parent

PUBLIC = {
    "assay.config": ["Config", "Environment", "Partition", "PartitionRef", "Slurm", "Ssh"],
    "assay.configfile.load": [
        "BUILTIN_ENVIRONMENT",
        "DEFAULT_SOURCE",
        "default_config",
        "find_config_file",
        "load_config",
        "parse_config",
    ],
    "assay.configfile.checks": ["slurm_problems", "results_problem"],
    "assay.configfile.describe": ["describe"],
}


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, ns in PUBLIC.items() for n in ns])
def test_every_name_is_still_imported_from_assay_config(module: str, name: str) -> None:
    code = (
        f"from assay.config import {name} as a\nimport {module} as m\n"
        f"assert a is m.{name}, (a, m.{name})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "first", ["assay.configfile.checks", "assay.configfile.load", "assay.config"]
)
def test_any_config_module_imports_first(first: str) -> None:
    code = f"import {first}\nfrom assay.config import load_config, Partition\nload_config"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_each_config_module_is_small() -> None:
    files = [SRC / "config.py", *sorted((SRC / "configfile").glob("*.py"))]
    sizes = {f.name: len(f.read_text().splitlines()) for f in files}
    assert len(sizes) >= 4 and max(sizes.values()) <= 350, sizes


def test_an_unknown_name_is_an_attribute_error_as_for_any_module() -> None:
    import assay.store

    for module in (assay.config, assay.store):
        assert not hasattr(module, "no_such_name")
        with pytest.raises(AttributeError, match=f"module '{module.__name__}' has no attribute"):
            _ = module.no_such_name  # type: ignore[attr-defined]
