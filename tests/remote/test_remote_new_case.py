"""A new case (no expected/ yet) run on an SSH host: it fails alone saying so, names the
output that came back, and `assay bless --case` makes its expected files from that output,
after which the next run on the host compares with them and passes."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, run_assay
from tests.remote.conftest import SshServer, write_config


def test_a_new_case_on_the_host_fails_alone_and_bless_accepts_what_came_back(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    work = tmp_path / "new-case"
    shutil.copytree(ROOT / "docs" / "examples" / "new-case", work)
    write_config(work, sshd, workdir)
    first = run_assay("run", "sort.suite.toml", "-p", "remote", "--plain", cwd=work, timeout=300)
    assert first.code == 1, first
    assert first.case("sort[case=fruit]")["status"] == "passed"
    new = first.case("sort[case=vegetables]")
    assert new["status"] == "failed", new
    reason = new["failure"]["reason"]
    assert reason.startswith("no expected outputs yet: cases/vegetables/expected does not exist")
    # the output it names is here, brought back from the host, and is the host's sort
    named = Path(new["output_dir"]) / "sorted.txt"
    assert f"check this run's output {named.relative_to(work)} and accept it" in reason, reason
    words = (work / "cases" / "vegetables" / "words.txt").read_text().split()
    assert named.read_text().split() == sorted(words)

    blessed = run_assay("bless", "--case", new["id"], "--yes", cwd=work, timeout=120)
    assert blessed.code == 0, blessed
    expected = work / "cases" / "vegetables" / "expected" / "sorted.txt"
    assert expected.read_text() == named.read_text()

    again = run_assay("run", "sort.suite.toml", "-p", "remote", "--plain", cwd=work, timeout=300)
    assert again.code == 0, again
    assert again.case("sort[case=vegetables]")["status"] == "passed"
