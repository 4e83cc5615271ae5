"""Run as root by a runner that cannot drop dac_override/fowner (started without
CAP_SETPCAP, as in a container run with ``--cap-drop=SETPCAP``: a real runner, no fake),
a case's store inputs are private copies, not links into the store: the case may write its
copy, the store object stays intact, and the run says once why and what it costs. A
runner that can drop them still links (same inode as the store's object)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliResult, _assay_env, run_assay

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are dropped for root only"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv"),
]

WITHOUT_SETPCAP = ["setpriv", "--bounding-set=-setpcap", "--inh-caps=-setpcap", "--"]

TWO = """
import assay

class Writer(assay.Test):
    sources = "data/"
    command = "stat -c '%i %h' input.txt; echo more >> input.txt && echo WROTE"

class Other(assay.Test):
    sources = "data/"
    command = "stat -c '%i %h' input.txt; cat input.txt"

    def sanity(self, out):
        out.expect("^42$")
"""


def _run_without_setpcap(tmp_path: Path, *args: str) -> CliResult:
    env = _assay_env(tmp_path, {"COLUMNS": "200"})
    env.pop("ASSAY_ROOT_CAPS", None)
    argv = [*WITHOUT_SETPCAP, sys.executable, "-m", "assay", *args]
    proc = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(tuple(args), proc.returncode, proc.stdout, proc.stderr, tmp_path)


def _store_inode(tmp_path: Path) -> tuple[int, int]:
    """The inode and link count of the store object holding ``42\\n``."""
    found = {
        (st.st_ino, st.st_nlink)
        for p in (tmp_path / ".store").rglob("*")
        if p.is_file() and p.read_bytes() == b"42\n" and (st := p.stat())
    }
    assert len(found) == 1, found  # (a checkout's link is the same inode)
    return found.pop()


def _seen(case: dict[str, object]) -> tuple[int, int]:
    text = (Path(str(case["output_dir"])) / "assay-run.out").read_text()
    ino, nlink = text.splitlines()[0].split()
    return int(ino), int(nlink)


def _write(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    (tmp_path / "test_two.py").write_text(TWO)


def test_a_runner_that_cannot_drop_them_stages_copies_the_case_may_write(
    tmp_path: Path,
) -> None:
    _write(tmp_path)
    result = _run_without_setpcap(tmp_path, "run", "test_two.py", "--plain", "--max-jobs", "1")
    assert result.code == 0, result
    store_ino, _ = _store_inode(tmp_path)
    for name in ("Writer", "Other"):
        ino, nlink = _seen(result.case(name))
        assert ino != store_ino and nlink == 1, (name, ino, nlink, store_ino)
    writer_out = (Path(str(result.case("Writer")["output_dir"])) / "assay-run.out").read_text()
    assert "WROTE" in writer_out  # its own copy
    assert _store_inode(tmp_path)[0] == store_ino  # the object is still "42\n" (one of it)
    verify = run_assay("store", "verify", cwd=tmp_path)
    assert verify.code == 0, verify
    # Said once per run, naming why, the cost and the fix.
    warned = [line for line in result.stderr.splitlines() if "CAP_SETPCAP" in line]
    assert len(warned) == 1, result.stderr
    assert "copied" in result.stderr and "non-root" in result.stderr, result.stderr
    # The data the user gave stays as it was.
    assert (tmp_path / "data/input.txt").read_text() == "42\n"


def test_a_runner_that_can_drop_them_links_and_says_nothing(tmp_path: Path) -> None:
    _write(tmp_path)
    result = run_assay("run", "test_two.py", "--plain", "--max-jobs", "1", cwd=tmp_path)
    store_ino, _ = _store_inode(tmp_path)
    for name in ("Writer", "Other"):
        assert _seen(result.case(name))[0] == store_ino, name
    writer_out = (Path(str(result.case("Writer")["output_dir"])) / "assay-run.out").read_text()
    assert "WROTE" not in writer_out  # refused: it runs without them
    assert "CAP_SETPCAP" not in result.stderr, result.stderr
    verify = run_assay("store", "verify", cwd=tmp_path)
    assert verify.code == 0, verify


ARTIFACT = """
import assay

class Writer(assay.Test):
    artifacts = {"ref": "ref/"}
    command = (
        "stat -c '%i %h' $ASSAY_REF/input.txt; echo caps=$ASSAY_ROOT_CAPS; "
        "echo more >> $ASSAY_REF/input.txt && echo WROTE"
    )

class Other(assay.Test):
    artifacts = {"ref": "ref/"}
    command = "stat -c '%i %h' $ASSAY_REF/input.txt; cat $ASSAY_REF/input.txt"

    def sanity(self, out):
        out.expect("^42$")
"""


@pytest.mark.parametrize("refused", [True, False])
def test_an_artifact_is_a_private_copy_only_where_the_runner_cannot_drop_them(
    tmp_path: Path, refused: bool
) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref/input.txt").write_text("42\n")
    (tmp_path / "test_art.py").write_text(ARTIFACT)
    args = ("run", "test_art.py", "--plain", "--max-jobs", "1")
    result = _run_without_setpcap(tmp_path, *args) if refused else run_assay(*args, cwd=tmp_path)
    store_ino, _ = _store_inode(tmp_path)
    writer = result.case("Writer")
    out = (Path(str(writer["output_dir"])) / "assay-run.out").read_text()
    if refused:
        assert result.code == 0, result
        for name in ("Writer", "Other"):
            ino, nlink = _seen(result.case(name))
            assert ino != store_ino and nlink == 1, (name, ino, nlink, store_ino)
        assert "WROTE" in out and "caps=\n" in out  # not told they are gone: they are not
        assert len([x for x in result.stderr.splitlines() if "CAP_SETPCAP" in x]) == 1
    else:
        for name in ("Writer", "Other"):
            assert _seen(result.case(name))[0] == store_ino, name
        assert "WROTE" not in out and "caps=dropped" in out
    verify = run_assay("store", "verify", cwd=tmp_path)
    assert verify.code == 0, verify
    assert (tmp_path / "ref/input.txt").read_text() == "42\n"
