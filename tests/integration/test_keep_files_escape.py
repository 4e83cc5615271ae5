"""keep_files keeps files of the stage dir, nothing else: a pattern that leaves it (``..``,
an absolute path) or that matches through a link the test made there keeps nothing from
outside, and neither moves (a passing case) nor deletes (a failing one, whose kept file
was replaced by a link to itself) anything outside. Every run happens in a sandbox deep
under the test's tmp dir; the files outside are canaries checked after the run."""

from __future__ import annotations

import uuid
from pathlib import Path


def _project(tmp_path: Path) -> tuple[Path, Path]:
    sandbox = tmp_path / "sandbox"
    (sandbox / "shared").mkdir(parents=True)
    (sandbox / "shared" / "x.log").write_text("precious")
    project = sandbox / "project"
    project.mkdir()
    (project / "canary.txt").write_text("precious")
    return sandbox, project


def test_keep_files_through_a_link_in_the_stage_dir_moves_nothing_out_of_its_target(
    assay_cli, write, tmp_path
):
    sandbox, project = _project(tmp_path)
    (project / "test_k.py").write_text(
        "import assay\n\n"
        "class K(assay.Test):\n"
        f"    command = 'ln -s {sandbox / 'shared'} shared; echo mine > own.log'\n"
        "    keep_files = ['shared/*.log', '*.log']\n"
    )
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert (sandbox / "shared" / "x.log").read_text() == "precious"  # it was moved away
    assert result.code == 1, result
    case = result.case("K")
    assert case["failure"]["stage"] == "cleanup", case
    assert (
        "'shared/*.log' matched shared/x.log through the link shared" in (case["failure"]["reason"])
    )
    assert (Path(case["output_dir"]) / "own.log").read_text() == "mine\n"


def test_keep_files_leaving_the_stage_dir_deletes_nothing_when_the_case_fails(
    assay_cli, write, tmp_path
):
    _, project = _project(tmp_path)
    # The canary's name is unique: the patterns, at every depth, match nothing else.
    canary = project / f"canary-{uuid.uuid4().hex}.txt"
    canary.write_text("precious")
    patterns = ["../" * n + canary.name for n in range(1, 9)]
    (project / "test_k.py").write_text(
        "import assay\n\n"
        "class K(assay.Test):\n"
        "    command = 'false'\n"
        f"    keep_files = {patterns!r}\n"
    )
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert canary.read_text() == "precious"  # it was deleted
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr


def test_keep_files_leaving_the_stage_dir_is_the_cases_failure(assay_cli, write, tmp_path):
    _, project = _project(tmp_path)
    (project / "test_k.py").write_text(
        "import assay\n\n"
        "class K(assay.Test):\n"
        "    command = 'true'\n"
        "    keep_files = ['../*.txt', '/etc/hostname', 'a/../../b']\n"
    )
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert result.code == 1, result
    reason = result.case("K")["failure"]["reason"]
    for pattern in ("../*.txt", "/etc/hostname", "a/../../b"):
        assert f"keep_files: {pattern!r} leaves the stage dir" in reason, reason
    assert "Traceback" not in result.stdout + result.stderr


def _keep(tmp_path: Path, patterns: list[str]) -> Path:
    project = tmp_path / "sandbox" / "project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "test_k.py").write_text(
        "import assay\n\n"
        "class K(assay.Test):\n"
        "    command = 'mkdir -p sub/deep; echo hi > out.txt; echo y > sub/deep/y'\n"
        f"    keep_files = {patterns!r}\n"
    )
    return project


def test_keep_files_naming_no_file_is_the_cases_failure_not_a_crash(assay_cli, tmp_path):
    """'' and '.' once ended the cleanup with pathlib's ValueError and IndexError."""
    project = _keep(tmp_path, ["", ".", "./"])
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert result.code == 1, result
    reason = result.case("K")["failure"]["reason"]
    for pattern in ("", ".", "./"):
        assert f"keep_files: {pattern!r} names no file of the stage dir" in reason, reason
    assert "Error" not in reason and "Traceback" not in result.stdout + result.stderr


def test_keep_files_matching_only_directories_says_how_to_keep_their_files(assay_cli, tmp_path):
    """'sub/' and '**' match directories only: they once kept nothing, silently."""
    project = _keep(tmp_path, ["sub/", "**"])
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert result.code == 1, result
    reason = result.case("K")["failure"]["reason"]
    assert "keep_files: 'sub/' matched only directories (sub)" in reason, reason
    assert "'sub/**/*'" in reason and "keep_files: '**' matched only directories" in reason
    _keep(tmp_path, ["sub/**/*"])
    kept = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert kept.code == 0, kept
    output = Path(kept.case("K")["output_dir"])
    assert (output / "sub/deep/y").read_text() == "y\n"


def test_keep_files_matching_a_fifo_or_a_dangling_link_names_what_it_matched(assay_cli, tmp_path):
    """A FIFO and a link to nothing were reported as 'matched only directories', and the
    fix offered ('fifo/**/*') could match nothing."""
    project = tmp_path / "sandbox" / "project"
    project.mkdir(parents=True)
    (project / "test_k.py").write_text(
        "import assay\n\n"
        "class K(assay.Test):\n"
        "    command = 'mkfifo pipe.txt; ln -s nowhere gone.txt; mkdir sub'\n"
        "    keep_files = ['pipe.txt', 'gone.txt', 'sub']\n"
    )
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert result.code == 1, result
    reason = result.case("K")["failure"]["reason"]
    assert "keep_files: 'pipe.txt' matched pipe.txt, a FIFO, not a regular file" in reason, reason
    assert "keep_files: 'gone.txt' matched gone.txt, a link to nothing" in reason, reason
    assert "'pipe.txt/**/*'" not in reason and "'gone.txt/**/*'" not in reason, reason
    assert "keep_files: 'sub' matched only directories (sub)" in reason, reason
    assert "Traceback" not in result.stdout + result.stderr
