"""``writable``/``exclude_sources`` as a run uses them (``./x`` works, a glob a hook sets at
setup is checked too), and a project's store inside ``sources = "."`` is not staged."""

from __future__ import annotations

from tests.conftest import run_assay

TEST = """
import assay


class G(assay.Test):
    sources = "src/"
    writable = ["./data.txt"]
    exclude_sources = ["./secret"]
    command = "echo more >> data.txt && ls -a > listing"
    keep_files = ["listing"]

    def sanity(self, out):
        out.expect_not("secret", where="listing")
"""


def test_dot_slash_globs_make_the_input_writable_and_leave_the_secret_out(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.txt").write_text("data\n")
    (tmp_path / "src" / "secret").write_text("s\n")
    (tmp_path / "test_g.py").write_text(TEST)
    result = run_assay("run", "test_g.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    assert (tmp_path / "src" / "data.txt").read_text() == "data\n"  # a private copy


def test_a_hook_that_sets_an_absolute_glob_fails_the_case_at_setup(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.txt").write_text("data\n")
    hook = """
    @assay.before("setup")
    def widen(self):
        self.writable = [*self.writable, "/etc/passwd"]
"""
    (tmp_path / "test_g.py").write_text(TEST + hook)
    result = run_assay("run", "test_g.py", "--plain", cwd=tmp_path)
    assert result.code == 1, result
    failure = result.case("G")["failure"]
    assert failure["stage"] == "setup"
    assert (
        "writable has a glob that can match nothing: '/etc/passwd' is absolute" in failure["reason"]
    ), failure


def test_the_projects_store_is_not_staged_with_sources_dot(tmp_path):
    """The tests' store is ./.store ($ASSAY_STORE, tests/conftest.py): inside the project."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "input.txt").write_text("in\n")
    (project / "test_s.py").write_text(
        "import assay\n\n\nclass S(assay.Test):\n    sources = '.'\n"
        "    command = 'ls -a > listing'\n    keep_files = ['listing']\n"
    )
    result = run_assay("run", "test_s.py", "--plain", "--prefix", str(tmp_path / "p"), cwd=project)
    assert result.code == 0, result
    assert (project / ".store" / "objects").is_dir()
    (listing,) = (tmp_path / "p").glob("*/output/S-*/listing")
    names = set(listing.read_text().split())
    assert "input.txt" in names and ".store" not in names, names
