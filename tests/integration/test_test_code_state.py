"""Test code that changes assay's process state (os.environ, fds 0-2, the umask, the working
directory) changes it for its own call only: the guard puts it back, so the other cases, the
jobs assay starts, the files it writes and what it prints are as if nothing happened (a
case's own changes to os.environ stay visible to its own later code and its jobs). One
hook that raises (sys.exit(0) included) fails its own case only and the others are recorded.
(``os._exit`` is refused separately: test_test_code.py.)"""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from tests.conftest import CliResult, run_on_terminal

# Each Spoils* case does its damage in a hook and passes; Checks runs after all of them
# (depends_on) and looks, in its own hooks and in its job, for what they left behind.
SPOILERS = """
import os
import sys
import assay

AT_LOAD = {{fd: (os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (0, 1, 2)}}
UMASK = os.umask(0o022)
os.umask(UMASK)


class SpoilsFds(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def close_them(self):
        os.close(1)
        os.close(2)
        # the next files opened take fds 1 and 2: assay's output would go into them
        self.grabbed = open({grabbed!r}, "w"), open({grabbed!r} + "2", "w")


class RedirectsStdout(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def redirect(self):
        fd = os.open({grabbed!r} + "-dup2", os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(fd, 1)  # inheritable, as a shell redirection: only fstat tells


class SpoilsEnviron(assay.Test):
    command = 'echo "seen:$LEAKED:${{PATH-unset}}"; echo "$TRICKY"'

    @assay.after("setup")
    def clear_it(self):
        os.environ.clear()
        os.environ["LEAKED"] = "from SpoilsEnviron"
        os.environ["TRICKY"] = "it's\\n$(touch pwned)`touch pwned2`"

    @assay.before("run")
    def look_again(self):
        # documented: the case's own later code and its job see what its code changed
        assert os.environ.pop("TRICKY").startswith("it's")
        assert os.environ == {{"LEAKED": "from SpoilsEnviron"}}, dict(os.environ)
        os.environ["TRICKY"] = "it's\\n$(touch pwned)`touch pwned2`"

    def sanity(self, out):
        out.expect(r"^seen:from SpoilsEnviron:unset$")
        out.expect(r"^it's$")
        out.expect(r"^\\$\\(touch pwned\\)`touch pwned2`$")


class ReplacesEnviron(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def replace_it(self):
        os.environ = {{"REPLACED": "1"}}


class SpoilsUmask(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def open_it(self):
        os.umask(0)


class SpoilsCwd(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def wander(self):
        os.chdir("/")


class ClosesStreams(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def close_them(self):
        sys.stdout.close()
        sys.__stdout__.close()
        sys.__stderr__.close()


class ExitsZero(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def leave(self):
        os.environ["LEAKED"] = "from ExitsZero"
        sys.exit(0)


class Checks(assay.Test):
    depends_on = ["SpoilsFds", "RedirectsStdout", "SpoilsEnviron", "ReplacesEnviron", "SpoilsUmask",
                  "SpoilsCwd", "ClosesStreams"]
    command = "env; umask; pwd; touch made-by-job"

    @assay.before("run")
    def look(self):
        assert "LEAKED" not in os.environ and "PATH" in os.environ, dict(os.environ)
        assert "REPLACED" not in os.environ
        assert type(os.environ).__name__ == "_Environ"
        now = {{fd: (os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (0, 1, 2)}}
        assert now == AT_LOAD, (now, AT_LOAD)
        mask = os.umask(UMASK)
        assert mask == UMASK, oct(mask)

    def sanity(self, out):
        out.expect(r"^PATH=")
        out.expect_not(r"LEAKED|REPLACED")
        out.expect(rf"^0*{{UMASK:o}}$")
"""


def test_state_test_code_changes_is_put_back_for_the_rest_of_the_run(assay_cli, write, tmp_path):
    os.umask(old := os.umask(0o022))  # the umask assay starts with (inherited from here)
    write("test_spoils.py", SPOILERS.format(grabbed=str(tmp_path / "grabbed")))
    result: CliResult = assay_cli("run", "test_spoils.py", "--plain")
    # only the hook that raised failed; everything after the spoilers passed
    assert result.code == 1, result
    assert result.case("ExitsZero")["failure"]["reason"].startswith("SystemExit: 0"), result
    statuses = {c["test"]: c["status"] for c in result.report["cases"]}
    assert statuses.pop("ExitsZero") == "failed"
    assert set(statuses.values()) == {"passed"}, statuses
    assert "Checks" in statuses
    # what assay printed went to its own stdout/stderr, not into the files that took fds 1, 2
    assert "passed" in result.stdout, result
    assert (tmp_path / "grabbed").read_text() == ""
    assert (tmp_path / "grabbed2").read_text() == ""
    assert (tmp_path / "grabbed-dup2").read_text() == ""
    assert "Traceback" not in result.stdout + result.stderr, result
    # files assay wrote after the umask 0 hook are not world-writable
    latest = tmp_path / ".assay" / "latest"
    for made in (latest / "report.json", latest / "journal.jsonl"):
        assert not os.stat(made).st_mode & stat.S_IWOTH, (made, oct(os.stat(made).st_mode))
    made_by_job = next((tmp_path / ".assay").rglob("made-by-job"), None)
    if made_by_job is not None:  # (stage dirs of passed cases may be cleaned up)
        assert os.stat(made_by_job).st_mode & 0o777 == 0o666 & ~old
    # the others' results are recorded in the results database
    with sqlite3.connect(tmp_path / ".assay" / "results.sqlite") as db:
        rows = dict(db.execute("SELECT test, status FROM cases").fetchall())
    assert rows.get("Checks") == "passed", rows
    assert rows.get("ExitsZero") == "failed", rows
    assert not list(tmp_path.glob("*.sqlite")), "nothing written relative to /"
    assert not list(tmp_path.rglob("pwned*")), "a variable's value ran as a command"


# Code at a test file's top level runs as the file loads, outside any case, before and
# beside the display: what it closes must not take the terminal from the display.
AT_MODULE_LEVEL = [
    "sys.__stdout__.close()",
    "sys.stdout.close()",
    "sys.__stderr__.close()",
    "os.close(1)",
    "os.closerange(0, 3)",
    "sys.stdout = None",
]


@pytest.mark.parametrize("damage", AT_MODULE_LEVEL)
def test_module_level_code_that_closes_the_output_does_not_end_the_run(
    damage: str, assay_cli, write, tmp_path
):
    write(
        "test_closes.py",
        f"import os\nimport sys\nimport assay\n\n{damage}\n\n\n"
        "class One(assay.Test):\n    command = 'echo hi'\n",
    )
    plain: CliResult = assay_cli("run", "test_closes.py", "--plain")
    assert plain.code == 0, plain
    assert "Traceback" not in plain.stdout + plain.stderr, plain
    assert "1 passed" in plain.stdout, plain
    code, drawn = run_on_terminal("run", "test_closes.py", cwd=tmp_path)
    assert code == 0, drawn
    assert "Traceback" not in drawn, drawn
    assert "1 passed" in drawn, drawn
