"""Golden-file pairs (x.txt beside x.html) on an SSH host: the input alone is staged there,
the output is compared with its expected file on the host, and a difference names it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT, CliResult, run_assay
from tests.remote.conftest import SshServer, write_config


def test_pairs_run_and_compare_on_the_host(sshd: SshServer, workdir: str, tmp_path: Path) -> None:
    work = tmp_path / "golden-pairs"
    shutil.copytree(ROOT / "examples" / "golden-pairs", work)
    write_config(work, sshd, workdir)
    (work / "tests" / "strong.html").write_text("<p>Both <b>strong</b> and <em>em</em>.</p>\n")
    result: CliResult = run_assay(
        "run", "markdown.suite.toml", "-p", "remote", cwd=work, timeout=300
    )
    assert result.code == 1, result
    assert result.case("markdown[case=emphasis]")["status"] == "passed"
    assert result.case("markdown[case=paragraphs]")["status"] == "passed"
    failed = result.case("markdown[case=strong]")
    assert failed["status"] == "failed"
    assert failed["failure"]["reason"].startswith("strong.html line 1, column 10: expected"), failed


def test_the_suites_tools_are_checked_out_on_the_host_for_its_comparison_command(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    # `tools` ([suite.compare]): the command's {tools} is the suite's directory checked out
    # on the host (the command checks it is not this machine's), quoted; before, a
    # comparison command could not name a script of the suite at all.
    from tests.suite_tools import tools_suite

    suite = tools_suite(tmp_path, elsewhere=True)
    write_config(suite, sshd, workdir)
    result: CliResult = run_assay("run", "t.suite.toml", "-p", "remote", cwd=suite, timeout=300)
    assert result.code == 1, result
    assert result.case("tl[case=same]")["status"] == "passed"
    reason = result.case("tl[case=other]")["failure"]["reason"]
    assert "command exited 1: out.txt: expected 1.0, got 2" in reason, reason
