"""Provenance: the store versions each case used, in the JSON and HTML reports, and
``assay store why`` answering from the results database (real processes, store, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.store.objects import hash_file
from tests.conftest import run_assay

TEST = """
import assay

class UsesOne(assay.Test):
    artifacts = {"build": "store:solver@1"}
    command = "cat $ASSAY_BUILD/bin/tool"

class UsesTwo(assay.Test):
    artifacts = {"build": "store:solver@2"}
    command = "cat $ASSAY_BUILD/bin/tool"

class UsesNone(assay.Test):
    command = "true"
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with solver@1 and @2 (bin/tool changed, share/data the same), and one
    recorded session whose cases used one each (and one used none)."""
    root = tmp_path_factory.mktemp("why")
    build = root / "build"
    (build / "bin").mkdir(parents=True)
    (build / "share").mkdir()
    (build / "bin/tool").write_text("tool one\n")
    (build / "share/data").write_text("the same in both\n")
    assert run_assay("store", "put", "solver", str(build), cwd=root).code == 0
    (build / "bin/tool").write_text("tool two\n")
    assert run_assay("store", "put", "solver", str(build), cwd=root).code == 0
    (root / "test_uses.py").write_text(TEST)
    done = run_assay("run", "test_uses.py", "--plain", "--html", "report.html", cwd=root)
    assert done.code == 0, done
    return root


def _tree(root: Path, ref: str) -> str:
    shown = run_assay("store", "why", ref, "--json", cwd=root)
    assert shown.code == 0, shown
    (version,) = json.loads(shown.stdout)["versions"]
    tree: str = version["tree"]
    return tree


def test_the_json_report_names_each_cases_store_versions(ran):
    report = json.loads((ran / ".assay/latest/report.json").read_text())
    used = {c["test"]: c["artifacts"] for c in report["cases"]}
    assert used["UsesOne"] == [
        {"artifact": "build", "layer": 0, "ref": "solver@1", "tree": _tree(ran, "solver@1")}
    ]
    assert used["UsesTwo"][0]["ref"] == "solver@2"
    assert used["UsesNone"] == []


def test_the_html_report_names_each_cases_store_versions(ran):
    page = (ran / "report.html").read_text()
    section = page.split('<section id="store-versions">', 1)[1].split("</section>", 1)[0]
    for ref in ("solver@1", "solver@2"):
        assert ref in section
        assert _tree(ran, ref) in section
    assert "UsesOne" in section and "UsesTwo" in section
    assert "UsesNone" not in section


def test_why_a_version_lists_the_sessions_and_cases_that_used_it(ran):
    shown = run_assay("store", "why", "solver@1", cwd=ran)
    assert shown.code == 0, shown
    session = (ran / ".assay/latest").resolve().name
    assert f"solver@1 (tree {_tree(ran, 'solver@1')[:16]})" in shown.stdout
    assert "used by 1 case(s) in 1 session(s)" in shown.stdout
    assert session in shown.stdout
    assert "UsesOne" in shown.stdout and "UsesTwo" not in shown.stdout
    data = json.loads(run_assay("store", "why", "solver@2", "--json", cwd=ran).stdout)
    assert [s["id"] for s in data["sessions"]] == [session]
    assert [(c["name"].split(" ")[0], c["ref"]) for c in data["sessions"][0]["cases"]] == [
        ("UsesTwo", "solver@2")
    ]
    # NAME alone: its newest version
    assert "UsesTwo" in run_assay("store", "why", "solver", cwd=ran).stdout


def test_why_an_object_finds_the_versions_that_hold_it(ran):
    changed = hash_file(ran / "build/bin/tool")  # only solver@2 has "tool two"
    shared = hash_file(ran / "build/share/data")
    one = json.loads(run_assay("store", "why", changed, "--json", cwd=ran).stdout)
    assert [v["ref"] for v in one["versions"]] == ["solver@2"]
    assert [c["ref"] for s in one["sessions"] for c in s["cases"]] == ["solver@2"]
    both = run_assay("store", "why", shared[:12], cwd=ran)  # a unique start of the hash
    assert both.code == 0, both
    assert f"object {shared} is in: solver@1, solver@2" in both.stdout
    assert "UsesOne" in both.stdout and "UsesTwo" in both.stdout
    # a version's tree is an object too
    tree = run_assay("store", "why", _tree(ran, "solver@1"), "--json", cwd=ran)
    assert [v["ref"] for v in json.loads(tree.stdout)["versions"]] == ["solver@1"]


def test_a_version_no_session_used_says_so(ran, tmp_path):
    build = tmp_path / "other"
    build.mkdir()
    (build / "f").write_text("unused\n")
    store = ["store", "--store", str(tmp_path / "st")]
    assert run_assay(*store, "put", "unused", str(build), cwd=ran).code == 0
    shown = run_assay(*store, "why", "unused@1", cwd=ran)
    assert shown.code == 0, shown
    assert "no recorded session used it" in shown.stdout


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("nosuch@1", "no artifact named 'nosuch' in the store"),
        ("solver@9", "solver has no version 9; versions: 1, 2"),
        ("0" * 64, "no version in the store"),
        ("abc", "too short to name an object"),
        ("not-a-name", "no artifact named 'not-a-name'"),
    ],
)
def test_why_of_what_the_store_does_not_know_is_a_clear_error(ran, what, message):
    shown = run_assay("store", "why", what, cwd=ran)
    assert shown.code == 2, shown
    assert message in shown.stderr
    assert "Traceback" not in shown.stderr


def test_why_without_recording_says_results_are_off(ran, tmp_path):
    config = tmp_path / "assay.toml"
    config.write_text(
        '[systems.local]\nhostnames = ["*"]\nresults = "none"\n\n[systems.local.partitions.p]\n'
    )
    shown = run_assay("store", "why", "solver@1", "-c", str(config), cwd=ran)
    assert shown.code == 2, shown
    assert 'results = "none": nothing is recorded' in shown.stderr
    assert "Traceback" not in shown.stderr


def test_names_from_the_database_are_shown_never_obeyed(tmp_path):
    """A case name is test code's (a parameter value), and a shared database holds other
    people's: an escape sequence or a newline in one is written visibly, not sent raw."""
    build = tmp_path / "build"
    build.mkdir()
    (build / "f.txt").write_text("hi\n")
    assert run_assay("store", "put", "solver", str(build), cwd=tmp_path).code == 0
    (tmp_path / "test_w.py").write_text(
        "import assay\n\n"
        "class W(assay.Test):\n"
        '    p = assay.parameter(["x\\x1b[2J\\x9b1m\\ny\\u202e"])\n'
        '    artifacts = {"build": "store:solver@1"}\n'
        '    command = "cat $ASSAY_BUILD/f.txt"\n'
    )
    assert run_assay("run", "test_w.py", "--plain", cwd=tmp_path).code == 0
    shown = run_assay("store", "why", "solver@1", cwd=tmp_path)
    assert shown.code == 0, shown
    assert "\x1b" not in shown.stdout and "\x9b" not in shown.stdout
    assert "\u202e" not in shown.stdout
    assert "W[p=x\\x1b[2J\\x9b1m\\x0ay\\u202e]" in shown.stdout
    assert len(shown.stdout.splitlines()) == 4  # version, count, session, the one case
