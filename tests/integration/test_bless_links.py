"""`assay bless` writes only inside a case's expected outputs: never through a symbolic link
(an expected file, or a directory on the way to it, that points elsewhere), and not when a
directory is swapped for a link between the plan and the write. Everything these tests
could touch lies in a sandbox deep under the test's tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay import bless
from tests.conftest import run_assay

SUITE = """\
[suite]
name = "s"
cases = "cases/*"
command = "cat in.txt > out.txt"
[suite.compare]
files = ["out.txt"]
"""


def _sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """A suite with one case whose output differs, and a victim file beside the suite."""
    box = tmp_path / "sandbox" / "deep"
    suite = box / "suite"
    (suite / "cases" / "c1").mkdir(parents=True)
    (suite / "cases" / "c1" / "in.txt").write_text("hello\n")
    (suite / "s.suite.toml").write_text(SUITE)
    victim = box / "victim"
    victim.mkdir()
    (victim / "out.txt").write_text("VICTIM\n")
    return suite, victim


def _run_and_bless(suite: Path) -> tuple[str, int]:
    run = run_assay("run", ".", "--plain", cwd=suite)
    assert run.code == 1, run
    blessed = run_assay("bless", "--yes", cwd=suite)
    return blessed.stdout + blessed.stderr, blessed.code


def _victim_inside(suite: Path) -> Path:
    """A victim inside the suite's directory: a link out of it fails the case at setup
    (test_suite_confine.py) before bless could see it; bless's own refusal is for links
    that stay inside (they could still lead to another case's or the suite's files)."""
    victim = suite / "victim"
    victim.mkdir()
    (victim / "out.txt").write_text("VICTIM\n")
    return victim


def test_bless_does_not_write_through_an_expected_file_that_is_a_link(tmp_path):
    suite, _ = _sandbox(tmp_path)
    victim = _victim_inside(suite)
    link = suite / "cases" / "c1" / "expected" / "out.txt"
    link.parent.mkdir()
    link.symlink_to(victim / "out.txt")
    said, code = _run_and_bless(suite)
    assert (victim / "out.txt").read_text() == "VICTIM\n"
    assert link.is_symlink()
    assert code == 1, said
    assert "cases/c1/expected/out.txt is a symbolic link" in said
    assert "Traceback" not in said


def test_the_note_names_the_link_not_where_it_leads_and_says_nothing_was_blessed(tmp_path):
    """A link to a file inside the suite (a shared golden file): the note named the file
    it leads to as "a symbolic link", and then said the case had no differing outputs."""
    suite, _ = _sandbox(tmp_path)
    golden = suite / "cases" / "c1" / "golden.txt"
    golden.write_text("SHARED\n")
    link = suite / "cases" / "c1" / "expected" / "out.txt"
    link.parent.mkdir()
    link.symlink_to(Path("..", "golden.txt"))
    said, code = _run_and_bless(suite)
    assert code == 1, said
    assert golden.read_text() == "SHARED\n"
    assert "s[case=c1] @local:default+builtin: cases/c1/expected/out.txt is a symbolic link" in said
    assert "golden.txt" not in said
    assert said.splitlines()[-1].startswith("nothing blessed: see the note(s) above")
    assert "no selected case has differing outputs" not in said


def test_bless_does_not_write_through_an_expected_dir_that_is_a_link(tmp_path):
    suite, _ = _sandbox(tmp_path)
    victim = _victim_inside(suite)
    (suite / "cases" / "c1" / "expected").symlink_to(victim)
    said, code = _run_and_bless(suite)
    assert (victim / "out.txt").read_text() == "VICTIM\n"
    assert sorted(p.name for p in victim.iterdir()) == ["out.txt"]
    assert code == 1, said
    assert "cases/c1/expected is a symbolic link" in said


def test_bless_still_writes_a_plain_expected_file(tmp_path):
    suite, _ = _sandbox(tmp_path)
    expected = suite / "cases" / "c1" / "expected"
    expected.mkdir()
    (expected / "out.txt").write_text("old\n")
    os.chmod(expected / "out.txt", 0o640)
    said, code = _run_and_bless(suite)
    assert code == 0, said
    assert (expected / "out.txt").read_text() == "hello\n"
    assert (expected / "out.txt").stat().st_mode & 0o777 == 0o640  # its mode kept
    assert [p.name for p in expected.iterdir()] == ["out.txt"]  # no temporary left


def test_a_directory_swapped_for_a_link_after_the_plan_is_refused(tmp_path):
    """The chain: bless checks the plan, then (before the write) a directory on the way is
    replaced by a link to elsewhere. The write walks the path by descriptors that do not
    follow links, so it refuses instead of writing elsewhere."""
    suite, victim = _sandbox(tmp_path)
    expected = suite / "cases" / "c1" / "expected"
    (expected / "sub").mkdir(parents=True)
    source = tmp_path / "sandbox" / "actual.txt"
    source.write_text("NEW\n")
    copy = bless.Copy("c1", source, expected / "sub" / "out.txt", expected, "sub/out.txt")
    (expected / "sub").rmdir()
    (expected / "sub").symlink_to(victim)
    with pytest.raises(bless.NotBlessed, match="sub is a symbolic link"):
        bless.apply([copy])
    assert (victim / "out.txt").read_text() == "VICTIM\n"


def test_an_expected_file_swapped_for_a_link_after_the_plan_is_replaced_not_followed(tmp_path):
    suite, victim = _sandbox(tmp_path)
    expected = suite / "cases" / "c1" / "expected"
    expected.mkdir()
    source = tmp_path / "sandbox" / "actual.txt"
    source.write_text("NEW\n")
    copy = bless.Copy("c1", source, expected / "out.txt", expected, "out.txt")
    (expected / "out.txt").symlink_to(victim / "out.txt")
    with pytest.raises(bless.NotBlessed, match=r"out\.txt is a symbolic link"):
        bless.apply([copy])
    assert (victim / "out.txt").read_text() == "VICTIM\n"


def test_a_kept_actual_output_that_is_a_link_is_not_copied(tmp_path):
    """The source side: an actual output made a link (to a secret) is not copied into the
    suite's expected files (where it would be committed)."""
    suite, victim = _sandbox(tmp_path)
    expected = suite / "cases" / "c1" / "expected"
    expected.mkdir()
    source = tmp_path / "sandbox" / "actual.txt"
    source.symlink_to(victim / "out.txt")
    copy = bless.Copy("c1", source, expected / "out.txt", expected, "out.txt")
    with pytest.raises(bless.NotBlessed, match=r"actual\.txt is a symbolic link"):
        bless.apply([copy])
    assert not (expected / "out.txt").exists()


def test_an_expected_file_hard_linked_to_a_file_outside_the_suite_is_replaced_not_modified(
    tmp_path,
):
    """A hard link is no symbolic link: nothing on the path shows it leads elsewhere. Bless
    gives the expected name a new file; the shared inode (the victim) keeps its content."""
    suite, victim = _sandbox(tmp_path)
    expected = suite / "cases" / "c1" / "expected"
    expected.mkdir()
    os.link(victim / "out.txt", expected / "out.txt")
    os.chmod(victim / "out.txt", 0o640)
    said, code = _run_and_bless(suite)
    assert code == 0, said
    assert (victim / "out.txt").read_text() == "VICTIM\n"
    assert (victim / "out.txt").stat().st_nlink == 1  # no longer shared with the suite
    assert (expected / "out.txt").read_text() == "hello\n"
    assert (expected / "out.txt").stat().st_mode & 0o777 == 0o640  # its mode kept
    assert [p.name for p in expected.iterdir()] == ["out.txt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's file")
def test_bless_does_not_act_on_a_report_another_user_could_have_written(tmp_path):
    """The report names the expected files to write and the actual ones to copy: a report
    another user owns (or may write) could make bless write any file of the runner's."""
    suite, victim = _sandbox(tmp_path)
    expected = suite / "cases" / "c1" / "expected"
    expected.mkdir()
    (expected / "out.txt").write_text("old\n")
    run = run_assay("run", ".", "--plain", cwd=suite)
    assert run.code == 1, run
    report = suite / ".assay" / "latest" / "report.json"
    data = report.read_text().replace(str(expected), str(victim))
    report.write_text(data)
    os.chown(report, 65534, 65534)
    blessed = run_assay("bless", "--yes", cwd=suite)
    assert blessed.code == 2, blessed
    assert "owned by uid 65534" in blessed.stderr and "Traceback" not in blessed.stderr
    assert "assay run" in blessed.stderr  # the fix: a session of one's own
    assert (victim / "out.txt").read_text() == "VICTIM\n"
    assert (expected / "out.txt").read_text() == "old\n"
    os.chown(report, 0, 0)
    report.chmod(0o666)
    blessed = run_assay("bless", "--yes", cwd=suite)
    assert blessed.code == 2 and "writable by others" in blessed.stderr, blessed
    assert (victim / "out.txt").read_text() == "VICTIM\n"
