"""Test code runs in assay's process: a test file that closes every descriptor above 2
(``os.closerange(3, 1024)``, as daemonizing code does) closed assay's own too, its event
loop's and the display's: the run ended in a traceback ("Bad file descriptor" from the
event loop, "internal error: this is a bug in assay") with its output lost. Now such a
closerange is refused as ``os._exit`` is: the file (or the case) fails, saying why; the
rest of the run goes on."""

from __future__ import annotations

AT_IMPORT = """
import os

import assay

os.closerange(3, 1024)


class Never(assay.Test):
    command = "true"
"""

IN_A_HOOK = """
import os

import assay


class Closes(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        os.closerange(3, 1 << 16)
"""

FINE = """
import assay


class Fine(assay.Test):
    command = "echo hi"
"""


def test_a_test_closing_every_descriptor_fails_itself_not_the_run(assay_cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_a_import.py").write_text(AT_IMPORT)
    (project / "test_b_hook.py").write_text(IN_A_HOOK)
    (project / "test_c_fine.py").write_text(FINE)
    result = assay_cli("run", ".", "--plain", cwd=project)
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, result
    assert "internal error" not in everything, result
    assert "test_a_import.py:6: failed to import" in result.stdout, result
    assert "os.closerange(3, 1024) would close descriptors of assay's own process" in everything
    closes = result.case("Closes")
    assert closes["status"] == "failed"
    assert "os.closerange(3, 65536) would close" in closes["failure"]["reason"], closes
    assert result.case("Fine")["status"] == "passed"
    assert "[   OK] Fine" in result.stdout  # the display's lines reached the terminal


NUMBERS = """
import os

import assay


class ClosesStdout(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def close_and_open(self):
        os.close(1)
        os.closerange(2, 3)
        first = os.open({path!r}, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(first, str(first).encode())
        os.close(first)
"""


def test_a_stream_test_code_closes_stays_taken_for_assays_threads(assay_cli, tmp_path):
    # A closed 0-2 is the lowest free number: the next file any thread of assay opened got
    # it (a module's source the recorder's thread imported, the results database), and
    # putting the stream back went over that file: "Bad file descriptor", internal error.
    # Closing 0-2 from test code leaves the number taken (by /dev/null) until put back.
    project = tmp_path / "project"
    project.mkdir()
    seen = tmp_path / "fd"
    (project / "test_numbers.py").write_text(NUMBERS.format(path=str(seen)))
    result = assay_cli("run", ".", "--plain", cwd=project)
    assert result.case("ClosesStdout")["status"] == "passed", result
    assert int(seen.read_text()) > 2  # not 1 or 2: those stayed taken
    assert "[   OK] ClosesStdout" in result.stdout  # and the display still reaches fd 1


ONE_BY_ONE = """
import os

import assay


class ClosesEach(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        for fd in range(3, 1024):
            try:
                os.close(fd)
            except OSError:
                pass


class OwnFile(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        fd = os.open(os.devnull, os.O_RDONLY)
        os.close(fd)  # the test's own: closed as asked
"""


def test_a_test_closing_descriptors_one_by_one_fails_itself_not_the_run(assay_cli, tmp_path):
    # The os.close form of closerange(3, 1024): it closed the event loop's self-pipe, and the
    # run ended in "Bad file descriptor", internal error.
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_each.py").write_text(ONE_BY_ONE)
    (project / "test_fine.py").write_text(FINE)
    result = assay_cli("run", ".", "--plain", cwd=project)
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, result
    assert "internal error" not in everything, result
    closes = result.case("ClosesEach")
    assert closes["status"] == "failed"
    assert "would close a descriptor of assay's own process" in closes["failure"]["reason"]
    assert result.case("OwnFile")["status"] == "passed"
    assert result.case("Fine")["status"] == "passed"
    assert "[   OK] Fine" in result.stdout
