"""Paths in a config file as a user writes them: ``~`` is the home directory (not a
directory named ``~`` made in the working directory), and the results database must be a
file SQLite can keep beside its journal (a device or a /proc file is refused, naming it)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assay.config import load_config
from assay.results.db import DatabaseError, ResultsDB

CONFIG = """
[systems.here]
prefix = "~/assay-prefix"
store = "~/assay-store"
results = "{results}"
[systems.here.partitions.p]
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.chdir(tmp_path)
    return path


def test_a_tilde_in_prefix_store_and_results_is_the_home_directory(home, tmp_path):
    config = tmp_path / "assay.toml"
    config.write_text(CONFIG.format(results="~/db/results.sqlite"))
    system = load_config(str(config)).systems["here"]
    assert system.prefix == str(home / "assay-prefix")
    assert system.store == str(home / "assay-store")
    assert system.results == str(home / "db/results.sqlite")


def test_results_that_are_none_or_a_url_are_left_alone(home, tmp_path):
    config = tmp_path / "assay.toml"
    for value in ("none", "postgresql://u@h/~db"):
        config.write_text(CONFIG.format(results=value))
        assert load_config(str(config)).systems["here"].results == value


def test_a_results_database_on_a_device_is_refused_and_nothing_is_made_beside_it(tmp_path):
    sandbox = tmp_path / "sandbox" / "deep"
    sandbox.mkdir(parents=True)
    device = sandbox / "null"
    try:  # the null device's numbers, made inside the sandbox (so is what SQLite adds)
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    with pytest.raises(DatabaseError, match="is a character device, not a file"):
        ResultsDB.open(str(device))
    assert sorted(p.name for p in sandbox.iterdir()) == ["null"]


def test_a_results_database_that_is_a_directory_is_refused_naming_it(tmp_path):
    with pytest.raises(DatabaseError, match="is a directory, not a file"):
        ResultsDB.open(str(tmp_path))


def test_a_results_database_through_a_symlink_to_a_file_is_fine(tmp_path):
    real = tmp_path / "real.sqlite"
    ResultsDB.open(str(real)).close()
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    ResultsDB.open(str(link)).close()
