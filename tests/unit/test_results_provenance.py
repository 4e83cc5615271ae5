"""Provenance reads of the results database (real SQLite and PostgreSQL), and the HTML
report's store versions."""

from __future__ import annotations

from assay.results import html
from assay.results.db import ResultsDB, SessionRecord
from assay.results.model import ArtifactUse
from assay.results.provenance import Target, find, format_text
from tests.unit.test_results_db import T0, result

TREE1, TREE2, OTHER = "a" * 64, "b" * 64, "c" * 64


def _record(db: ResultsDB) -> None:
    one = result(case_id="00000001", params={"n": "1"})
    one.artifacts = [ArtifactUse("build", 0, "solver@1", TREE1)]
    two = result(case_id="00000002", params={"n": "2"})
    two.artifacts = [
        ArtifactUse("build", 0, "solver@2", TREE2),
        ArtifactUse("build", 1, None, OTHER),
    ]
    elsewhere = result(case_id="00000003", params={"n": "3"})  # solver@1 of another store
    elsewhere.artifacts = [ArtifactUse("build", 0, "solver@1", OTHER)]
    db.begin_session(SessionRecord(id="s0", started=T0, git_commit="abc123"))
    db.record("s0", T0, [one, two])
    db.end_session("s0", T0 + 5)
    db.begin_session(SessionRecord(id="s1", started=T0 + 10))
    db.record("s1", T0 + 10, [one, elsewhere])


def test_uses_of_a_version_by_tree_and_name(results_target):
    with ResultsDB.open(results_target) as db:
        _record(db)
        uses = db.artifact_uses(["solver@1"], [TREE1])
        assert [(u.session, u.case_id, u.ref, u.tree, u.complete) for u in uses] == [
            ("s0", "00000001", "solver@1", TREE1, True),
            ("s1", "00000001", "solver@1", TREE1, False),
            ("s1", "00000003", "solver@1", OTHER, False),
        ]
        assert uses[0].git_commit == "abc123" and uses[0].status == "passed"
        found = find(db, Target("solver@1", [("solver@1", TREE1)], [TREE1]))
        assert [(u.session, u.case_id) for u in found.uses] == [
            ("s0", "00000001"),
            ("s1", "00000001"),
        ]
        assert [(u.session, u.case_id) for u in found.other] == [("s1", "00000003")]
        text = format_text(Target("solver@1", [("solver@1", TREE1)], [TREE1]), found, db.where)
        assert "used by 2 case(s) in 2 session(s)" in text
        assert "another tree" in text and "00000003" in text
        # a tree no name holds (a dep: layer): found by its hash or a start of it
        assert db.recorded_trees("cccc") == [OTHER]
        assert db.recorded_trees("dddd") == []
        assert [u.case_id for u in db.artifact_uses([], [OTHER])] == ["00000002", "00000003"]


def test_the_html_report_groups_cases_by_the_versions_they_used():
    def case(i: int, uses: list[dict[str, object]]) -> dict[str, object]:
        return {"id": f"{i:08x}", "name": f"Case[{i}]", "status": "passed", "artifacts": uses}

    v1 = {"artifact": "build", "layer": 0, "ref": "solver@1", "tree": TREE1}
    hostile = {
        "artifact": "<b>x</b>",
        "layer": 0,
        "ref": "<script>alert(1)</script>",
        "tree": TREE2,
    }
    page = html.render(
        {
            "session": {"id": "s", "command": ["assay"]},
            "summary": {"total": 4, "passed": 4},
            "cases": [case(1, [v1]), case(2, [v1]), case(3, [hostile]), case(4, [])],
        }
    )
    section = page.split('<section id="store-versions">', 1)[1].split("</section>", 1)[0]
    assert section.count("solver@1") == 1  # one row for the two cases that used it
    assert "2 case(s)" in section and "Case[1]" in section and "Case[2]" in section
    assert "Case[4]" not in section
    assert "<script>" not in section and "&lt;script&gt;" in section
    assert "<b>x</b>" not in section


def test_the_html_store_versions_leave_out_each_cases_own_sources():
    """A case's sources (a suite case's own directory) are recorded with their tree, but
    they are no store version: 200 cases would make 200 groups of one."""
    v1 = {"artifact": "build", "layer": 0, "ref": "solver@1", "tree": TREE1}
    cases = [
        {
            "id": f"{i:08x}",
            "name": f"Case[{i}]",
            "status": "passed",
            "artifacts": [v1, {"artifact": "(sources)", "layer": 0, "ref": None, "tree": f"{i}"}]
            if i < 3
            else [{"artifact": "(sources)", "layer": 0, "ref": None, "tree": f"{i}"}],
        }
        for i in range(1, 5)
    ]
    page = html.render(
        {"session": {"id": "s", "command": ["assay"]}, "summary": {"total": 4}, "cases": cases}
    )
    section = page.split('<section id="store-versions">', 1)[1].split("</section>", 1)[0]
    assert section.count("solver@1") == 1 and "2 case(s)" in section  # one group, not two
    assert "(sources)" not in section and "Case[3]" not in section
