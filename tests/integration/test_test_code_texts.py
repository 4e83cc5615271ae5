"""The texts test code fails with reach the journal, report.json, the results database and
JUnit XML whatever they hold: a file name a job wrote that is not UTF-8 (a lone surrogate
once ``os.listdir`` decoded it), an empty message, details that are no text, an exception
whose ``__str__`` raises. Each failed its own case at most; before, each ended the whole
run with 'internal error' and no report."""

from __future__ import annotations

import os
import sqlite3
import xml.etree.ElementTree as ET

from tests.conftest import CliResult

# A job writes a file whose name is not UTF-8; the test's sanity and metric name it.
NAMED_BY_THE_JOB = """
import os

import assay


def stray(out):
    return [n for n in os.listdir(out.path(".")) if n.startswith("bad")][0]


class Sanity(assay.Test):
    command = "printf x > $'bad\\\\xff.dat'"

    def sanity(self, out):
        raise assay.SanityError(f"unexpected file {stray(out)}", f"in {stray(out)}")


class Raises(assay.Test):
    command = "printf x > $'bad\\\\xff.dat'"

    def sanity(self, out):
        raise ValueError(f"unexpected file {stray(out)}")


class Metric(assay.Test):
    command = "printf x > $'bad\\\\xff.dat'"

    @assay.metric("s")
    def m(self, out):
        raise assay.SanityError(f"no time in {stray(out)}")


class Fine(assay.Test):
    command = "echo ok"
"""

ODD_SANITY_ERRORS = """
import assay


class Unprintable(assay.SanityError):
    def __str__(self):
        raise RuntimeError("no text for you")


class NoDetails(assay.SanityError):
    def __init__(self):  # (sets no details: SanityError's __init__ is not called)
        pass


class Empty(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        raise assay.SanityError("")


class ListedDetails(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        raise assay.SanityError("two lines differ", ["line 1: a", "line 2: b"])


class StrRaises(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        raise Unprintable("x")


class InitSkipped(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        raise NoDetails()


class MetricEmpty(assay.Test):
    command = "echo hi"

    @assay.metric("s")
    def m(self, out):
        raise assay.SanityError("")


class Fine(assay.Test):
    command = "echo ok"
"""


def _ran_whole(result: CliResult) -> None:
    """The run ended as a run with failures does: exit 1, no traceback, every case in the
    report, the passing one passed, the JUnit file XML."""
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.case("Fine")["status"] == "passed"
    ET.parse(result.cwd / "junit.xml")


def test_a_job_file_name_that_is_not_utf8_in_a_failure_is_kept_escaped(assay_cli, write):
    write("test_named.py", NAMED_BY_THE_JOB)
    result = assay_cli("run", "test_named.py", "--plain", "--junit", "junit.xml")
    _ran_whole(result)
    failure = result.case("Sanity")["failure"]
    assert failure["reason"] == "unexpected file bad\\xff.dat", failure
    assert failure["details"] == "in bad\\xff.dat", failure
    reason = result.case("Raises")["failure"]["reason"]
    assert reason.startswith("ValueError: unexpected file bad\\xff.dat at "), reason
    [metric] = result.case("Metric")["metrics"]
    assert metric["message"] == "no time in bad\\xff.dat", metric
    assert result.case("Metric")["failure"]["reason"] == "m: no time in bad\\xff.dat"
    # The results database recorded the session's cases with them.
    [database] = (result.cwd / ".assay").rglob("*.sqlite")
    with sqlite3.connect(database) as db:
        statuses = sorted(status for (status,) in db.execute("SELECT status FROM cases"))
    assert statuses == ["failed", "failed", "failed", "passed"], statuses


def test_a_sanity_error_with_no_message_or_odd_parts_fails_its_own_case(assay_cli, write):
    write("test_odd.py", ODD_SANITY_ERRORS)
    result = assay_cli("run", "test_odd.py", "--plain", "--junit", "junit.xml")
    _ran_whole(result)
    assert result.case("Empty @")["failure"]["reason"] == "SanityError without a message"
    listed = result.case("ListedDetails")["failure"]
    assert listed["details"] == "line 1: a\nline 2: b", listed
    assert result.case("StrRaises")["failure"]["reason"] == "<unprintable Unprintable object>"
    init_skipped = result.case("InitSkipped")["failure"]
    assert init_skipped["reason"] == "NoDetails without a message", init_skipped
    assert init_skipped["details"] is None
    reason = result.case("MetricEmpty")["failure"]["reason"]
    assert reason == "m: SanityError without a message", reason
    assert "[ FAIL] Empty @" in result.stdout, result


def test_a_test_file_failing_at_import_on_a_name_not_utf8_is_a_load_problem(assay_cli, write):
    write(
        "test_import.py",
        """
        import os

        import assay

        name = os.fsdecode(b"cfg\\xff.ini")
        raise FileNotFoundError(f"no config file {name}")
        """,
    )
    write("test_fine.py", "import assay\n\n\nclass Fine(assay.Test):\n    command = 'echo ok'\n")
    result = assay_cli("run", ".", "--plain", "--junit", "junit.xml")
    _ran_whole(result)
    [problem] = result.report["problems"]
    assert problem["message"].endswith("FileNotFoundError: no config file cfg\\xff.ini"), problem


def test_outputs_compared_whose_names_are_not_utf8_are_named_escaped(assay_cli, write, tmp_path):
    # The job makes a file the expected directory lacks (complete: an extra file) and one
    # both have (a difference); each name holds a byte that is not UTF-8.
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / os.fsdecode(b"e\xfe.txt")).write_text("x\n")
    write(
        "test_compared.py",
        """
        import assay


        class Compared(assay.Test):
            command = "echo y > $'e\\\\xfe.txt'; echo z > $'bad\\\\xff.txt'"

            def sanity(self, out):
                out.compare("exp", complete=["."])


        class Fine(assay.Test):
            command = "echo ok"
        """,
    )
    result = assay_cli("run", "test_compared.py", "--plain", "--junit", "junit.xml")
    _ran_whole(result)
    case = result.case("Compared")
    reason = case["failure"]["reason"]
    assert reason == "e\\xfe.txt line 1, token 1: expected 'x', got 'y'; bad\\xff.txt: extra file"
    [verdict] = case["comparisons"]
    assert verdict["extra"] == ["bad\\xff.txt"], verdict
    assert verdict["files"][0]["differences"][0]["file"] == "e\\xfe.txt", verdict


def _loaded_around(result: CliResult) -> None:
    """The file or test that could not be loaded is a load problem; the others ran."""
    assert "Traceback" not in result.stdout + result.stderr, result
    assert [case["status"] for case in result.report["cases"]] == ["passed"], result
    ET.parse(result.cwd / "junit.xml")


def test_a_test_file_under_a_directory_named_not_in_utf8_is_a_load_problem(assay_cli, write):
    write(os.fsdecode(b"d\xff/test_there.py"), "import assay\n\n\nclass There(assay.Test):\n")
    write("test_fine.py", "import assay\n\n\nclass Fine(assay.Test):\n    command = 'echo ok'\n")
    result = assay_cli("run", ".", "--plain", "--junit", "junit.xml")
    _loaded_around(result)
    [problem] = result.report["problems"]
    assert problem["location"] == "d\\xff/test_there.py", problem
    assert problem["message"].startswith("its path is not UTF-8 text"), problem


def test_a_tag_that_is_not_utf8_text_is_a_load_problem(assay_cli, write):
    write(
        "test_tagged.py",
        """
        import os

        import assay


        class Tagged(assay.Test):
            tags = {os.fsdecode(b"t\\xff")}
            command = "echo hi"


        class Fine(assay.Test):
            command = "echo ok"
        """,
    )
    result = assay_cli("run", "test_tagged.py", "--plain", "--junit", "junit.xml")
    _loaded_around(result)
    [problem] = result.report["problems"]
    assert "tags has the tag 't\\udcff', which is not UTF-8 text" in problem["message"], problem
