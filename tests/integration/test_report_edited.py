"""``assay report SESSION --html``, of a report.json whose values were changed into other
types than assay writes (by hand, or by anyone who may write the prefix), says so in one
line naming the file; it was an internal error with a traceback."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

TEST = """
import assay


class Rate(assay.Test):
    command = "echo 'rate: 5'"

    @assay.metric("op/s")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)
"""


def _metrics_not_a_list(report: dict[str, Any]) -> None:
    report["cases"][0]["metrics"] = 5


def _params_a_list(report: dict[str, Any]) -> None:
    report["cases"][0]["params"] = [1]


def _session_a_number(report: dict[str, Any]) -> None:
    report["session"] = 5


def _a_name_no_file_can_hold(report: dict[str, Any]) -> None:
    report["cases"][0]["name"] = "Rate\udcff"


@pytest.mark.parametrize(
    "edit", [_metrics_not_a_list, _params_a_list, _session_a_number, _a_name_no_file_can_hold]
)
def test_an_edited_report_is_named_in_one_line(assay_cli, write, tmp_path, edit):
    write("test_rate.py", TEST)
    ran = assay_cli("run", "test_rate.py", "--plain")
    assert ran.code == 0, ran
    session = ran.report["session"]["id"]
    path = tmp_path / ".assay" / "runs" / session / "report.json"
    report = json.loads(path.read_text())
    edit(report)
    path.write_text(json.dumps(report))
    result = assay_cli("report", session, "--html", "out.html")
    assert result.code == 2, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"assay: error: .assay/runs/{session}/report.json is not "), first
    assert not (tmp_path / "out.html").exists()


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_a_report_that_is_no_regular_file_is_named_not_read(assay_cli, write, tmp_path, kind):
    """A FIFO at report.json hung `assay report` for ever (a link to /dev/zero filled the
    memory); now one line names it."""
    write("test_rate.py", TEST)
    ran = assay_cli("run", "test_rate.py", "--plain")
    assert ran.code == 0, ran
    session = ran.report["session"]["id"]
    path = tmp_path / ".assay" / "runs" / session / "report.json"
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    result = assay_cli("report", session, "--html", "out.html", timeout=60)
    assert result.code == 2, result
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"assay: error: .assay/runs/{session}/report.json is not a regular")
    assert not (tmp_path / "out.html").exists()
