"""Why a case was skipped is in the results database (schema version 4, both backends):
``assay compare`` and ``assay history`` say it, a database of version 3 is upgraded (its
skips say the reason was not recorded, until their session directories are imported again),
and the HTML report lists the skipped cases by reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.results import html
from assay.results.db import ResultsDB
from assay.results.db.backends import Writer, connect
from assay.results.db.importer import import_sessions
from assay.results.db.records import result_series
from assay.results.db.schema import MIGRATIONS, SCHEMA_VERSION
from assay.results.db.types import NOT_RECORDED
from assay.results.history import gather, show, to_json
from assay.results.model import CaseResult, Status
from assay.results.sessions import compare
from assay.results.sessions import show as show_comparison
from assay.results.sessions import to_json as comparison_json
from assay.select import Selection
from tests.unit.test_results_db import T0, result, session
from tests.unit.test_results_import import write_report
from tests.unit.test_results_migrations import _execute

EXITED = "the command exited 77 (skip_exit_codes): no GPU on this node"


def skipped(reason: str | None = EXITED, exit_code: int | None = 77) -> CaseResult:
    r = result(status=Status.SKIPPED)
    r.failure, r.skip_reason, r.exit_code = None, reason, exit_code
    return r


@pytest.fixture
def db(results_target: str):
    with ResultsDB.open(results_target) as opened:
        yield opened


def test_compare_says_why_a_case_failing_before_is_skipped_now(db, capsys):
    session(db, "s0", T0, result(status=Status.FAILED))
    session(db, "s1", T0 + 1, skipped())
    found = compare(db, db.session("s0"), db.session("s1"))
    assert [(s.case_id, s.reason) for s in found.now_skipped] == [("0000aaaa", EXITED)]
    assert comparison_json(found)["now_skipped"][0]["reason"] == EXITED
    show_comparison(found, as_json=False)
    out = capsys.readouterr().out
    assert f"[0000aaaa] Stream[threads=4] @sys:part+gnu  (skipped: {EXITED})" in out


def test_history_says_why_the_newest_run_was_skipped(db, capsys):
    session(db, "s0", T0, result())
    session(db, "s1", T0 + 1, skipped("dependency failed: Build", None))
    histories = gather(db, Selection(), 10)
    runs = to_json(histories)["cases"][0]["runs"]
    assert [(r["status"], r["skip_reason"]) for r in runs] == [
        ("passed", None),
        ("skipped", "dependency failed: Build"),
    ]
    show(histories, 10, as_json=False)
    lines = capsys.readouterr().out.splitlines()
    # under the case's row, as long as it is (no column widened by it)
    assert lines[2] == "  skipped: dependency failed: Build"
    assert len(lines[1]) < len(lines[0]) + 20


def _make_version_3(target: str) -> None:
    """A database as assay made it at schema version 3, with a session whose case its
    command skipped (no column for the reason then)."""
    backend = connect(target)

    def work(w: Writer) -> None:
        for migration in MIGRATIONS[:3]:
            for statement in migration.statements:
                w.execute(statement)
            if migration.backfill is not None:
                migration.backfill(w)
        w.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3')")

    try:
        backend.write(work)
    finally:
        backend.close()


def test_a_version_3_database_is_upgraded_and_old_skips_get_their_reason_by_import(
    results_target, tmp_path: Path
):
    _make_version_3(results_target)
    sid = "20300101-000000-aaaa"
    old = skipped()
    # the session as the assay of version 3 recorded it: the case row has no reason
    _execute(
        results_target,
        [
            f"INSERT INTO sessions (id, started, finished, complete, command) VALUES ('{sid}',"
            f" {T0}, {T0 + 1}, 1, '[\"assay\"]')",
            "INSERT INTO cases (session_id, case_id, rep, series, at, name, test, variant,"
            " params, system, part, env, nodes, status, attempts) VALUES"
            f" ('{sid}', '{old.id}', 1, '{result_series(old)}', {T0}, '{old.name}', 'Stream',"
            f" '{old.variant}', '{{\"threads\":\"4\"}}', 'sys', 'part', 'gnu', 1, 'skipped', 1)",
        ],
    )
    prefix = tmp_path / "prefix"
    write_report(prefix, sid, T0, old)
    with ResultsDB.open(results_target) as db:
        assert db.version == SCHEMA_VERSION == 4
        (run,) = db.session_cases(sid)
        assert (run.status, run.skip_reason) == ("skipped", None)
        session(db, "s0", T0 - 10, result(status=Status.FAILED))
        found = compare(db, db.session("s0"), db.session(sid))
        assert [s.reason for s in found.now_skipped] == [None]
        # what the upgrade cannot know, the session's directory says: imported again
        assert import_sessions(db, prefix, force=True).imported == [sid]
        (run,) = db.session_cases(sid)
        assert run.skip_reason == EXITED
        found = compare(db, db.session("s0"), db.session(sid))
        assert [s.reason for s in found.now_skipped] == [EXITED]


def test_compare_and_history_say_when_a_skips_reason_was_not_recorded(db, capsys):
    session(db, "s0", T0, result(status=Status.FAILED))
    session(db, "s1", T0 + 1, skipped(None, None))
    show_comparison(compare(db, db.session("s0"), db.session("s1")), as_json=False)
    assert f"(skipped: {NOT_RECORDED})" in capsys.readouterr().out
    show(gather(db, Selection(), 10), 10, as_json=False)
    assert f"  skipped: {NOT_RECORDED}" in capsys.readouterr().out


def test_the_html_report_lists_the_skipped_cases_by_reason_escaped():
    nodes = "needs 4 nodes; partition sys:part has 1 <script>x</script>"
    cases = [
        {"name": f"Big[n={i}]", "id": f"id{i}", "status": "skipped", "skip_reason": nodes}
        for i in range(3)
    ]
    cases.append({"name": "Dep", "id": "id9", "status": "skipped", "skip_reason": "dependency"})
    cases.append({"name": "Old", "id": "id8", "status": "skipped"})  # an older report
    page = html.render({"summary": {"skipped": 5}, "cases": cases})
    section = page[page.index('<section id="skipped">') :]
    section = section[: section.index("</section>")]
    assert "Skipped (5)" in section
    escaped = "needs 4 nodes; partition sys:part has 1 &lt;script&gt;x&lt;/script&gt;"
    assert section.count(escaped) == 1
    assert "<strong>3 cases</strong>" in section and "Big[n=0] and 2 more" in section
    assert 'Dep <code class="muted">[id9]</code>: <span class="reason">dependency</span>' in section
    assert '<span class="reason">skipped</span>' in section
    assert json.dumps(nodes) not in page
