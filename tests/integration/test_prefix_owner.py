"""A new run (or --resume) refuses a prefix another user could change under it: owned by
someone else (also through a link), writable by others, or in a directory another user owns
or anyone may write without the sticky bit. Such a user could replace ``runs`` or
``results.sqlite`` with links to the runner's files between two runs, and a root run would
write its sessions, stage dirs and database through them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's dir")

TEST = """\
import assay


class A(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        out.expect("hi")
"""


@pytest.fixture
def sandbox(tmp_path: Path, write) -> Path:
    write("t/test_a.py", TEST)
    box = tmp_path / "sandbox"
    box.mkdir()
    return box


def _foreign(path: Path, mode: int = 0o755) -> Path:
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)
    return path


def _refused(result, *words: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_link_to_a_prefix_another_user_owns_is_refused_before_anything_is_written(
    sandbox, assay_cli
):
    prefix = _foreign(sandbox / "theirs")
    victim = sandbox / "victim"  # a directory of the runner's
    victim.mkdir()
    # The other user's chain: its prefix's runs is a link to the runner's directory.
    (prefix / "runs").symlink_to(victim)
    (sandbox / "link").symlink_to(prefix)
    result = assay_cli("run", "t", "--prefix", str(sandbox / "link"))
    _refused(result, str(sandbox / "link"), "uid 65534", "not by you", "chown -R 0")
    assert list(victim.iterdir()) == []
    assert sorted(p.name for p in prefix.iterdir()) == ["runs"]
    again = assay_cli("run", "t", "--prefix", str(sandbox / "link"), "--resume")
    _refused(again, "uid 65534")


def test_a_prefix_others_may_write_is_refused(sandbox, assay_cli):
    prefix = sandbox / "open"
    prefix.mkdir()
    prefix.chmod(0o777)
    result = assay_cli("run", "t", "--prefix", str(prefix))
    _refused(result, "writable by others (mode 777)", "chmod go-w")
    assert list(prefix.iterdir()) == []


def test_a_prefix_in_a_directory_another_user_owns_or_anyone_may_write_is_refused(
    sandbox, assay_cli
):
    theirs = _foreign(sandbox / "theirs")
    result = assay_cli("run", "t", "--prefix", str(theirs / ".assay"))
    _refused(result, f"the directory that holds it, {theirs}", "uid 65534")
    assert list(theirs.iterdir()) == []
    shared = sandbox / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = assay_cli("run", "t", "--prefix", str(shared / ".assay"))
    _refused(result, "writable by everyone (mode 777, not sticky)")
    # A link of the runner's own to a prefix inside such a directory: its target's holder
    # is checked too.
    mine = sandbox / "mine"
    mine.mkdir()
    (shared / "p").mkdir()
    (mine / "p").symlink_to(shared / "p")
    result = assay_cli("run", "t", "--prefix", str(mine / "p"))
    _refused(result, str(shared))


def test_a_prefix_of_ones_own_in_a_sticky_shared_directory_is_used(sandbox, assay_cli):
    tmp = sandbox / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    result = assay_cli("run", "t", "--prefix", str(tmp / ".assay"))
    assert result.code == 0, result
    assert (tmp / ".assay" / "runs").is_dir()


def test_a_user_who_trusts_the_directory_s_owner_may_skip_the_check(sandbox, assay_cli):
    # Root in a container, working in a bind mount of the host user's checkout.
    theirs = _foreign(sandbox / "theirs")
    refused = assay_cli("run", "t", "--prefix", str(theirs / ".assay"))
    _refused(refused, "ASSAY_TRUST_PREFIX=1")
    result = assay_cli(
        "run", "t", "--prefix", str(theirs / ".assay"), env={"ASSAY_TRUST_PREFIX": "1"}
    )
    assert result.code == 0, result
    assert (theirs / ".assay" / "runs").is_dir()
