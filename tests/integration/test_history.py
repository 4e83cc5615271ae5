"""The results database through real `assay` processes: recording, `assay history`,
`assay compare`, `--failed`, import of older session directories, concurrent writers and a
reader, faults, and longest-first scheduling from recorded durations. Tests that take
``results_target`` run against an SQLite file and against a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assay.results.db import CaseKey, ResultsDB
from assay.results.db.schema import SCHEMA_VERSION
from tests.conftest import ROOT

BANDWIDTH = """
import assay

class Stream(assay.Test):
    threads = assay.parameter([1, 2])
    bw = assay.variable(float, 10.0)
    fail = assay.variable(int, 0)
    command = "echo bw {bw}; exit {fail}"

    @assay.metric("GB/s")
    def triad(self, out):
        return out.extract(r"bw (\\S+)", float)
"""


def use_database(tmp_path: Path, target: str) -> None:
    """Point the config of the test's directory at ``target``."""
    (tmp_path / "assay.toml").write_text(
        textwrap.dedent(
            f"""\
            [systems.local]
            hostnames = ["*"]
            results = {json.dumps(target)}

            [systems.local.partitions.default]
            """
        )
    )


def history(assay_cli, *args: str) -> dict:
    shown = assay_cli("history", "--json", *args)
    assert shown.code == 0, shown
    return json.loads(shown.stdout)


def test_runs_are_recorded_and_history_shows_verdicts_durations_and_metrics(
    assay_cli, write, tmp_path, results_target
):
    use_database(tmp_path, results_target)
    write("test_bw.py", BANDWIDTH)
    for bw, fail in ((10.0, 0), (11.0, 0), (12.5, 1)):
        run = assay_cli("run", "test_bw.py", "-S", f"bw={bw}", "-S", f"fail={fail}", "--plain")
        assert run.code == fail, run
    data = history(assay_cli)
    assert [c["name"] for c in data["cases"]] == [
        "Stream[threads=1] @local:default+builtin",
        "Stream[threads=2] @local:default+builtin",
    ]
    case = data["cases"][0]
    assert [r["status"] for r in case["runs"]] == ["passed", "passed", "failed"]
    assert case["runs"][2]["failure"]["stage"] == "sanity"
    assert all(r["duration"] > 0 for r in case["runs"])
    # The failed run ended at sanity, before its metrics were measured.
    assert [v["value"] for v in case["metrics"]["triad"]] == [10.0, 11.0]
    assert case["metrics"]["triad"][0]["unit"] == "GB/s"
    assert case["last_verdict"] == "failed" and case["nodes"] == 1
    # --last and a selection.
    data = history(assay_cli, "--last", "2", "-P", "threads=2")
    assert len(data["cases"]) == 1 and len(data["cases"][0]["runs"]) == 2
    # The table.
    table = assay_cli("history", "-n", "Stream", "--case", data["cases"][0]["id"])
    assert table.code == 0, table
    assert "Stream[threads=2]" in table.stdout and "✓✓✗" in table.stdout
    assert "triad [GB/s]" in table.stdout and "10 11 -" in table.stdout
    # A name pasted from assay's output selects that case, brackets and all (as for
    # run and list): as a regular expression, "[threads=1]" is a class of characters and
    # matched nothing. An invalid expression that is no name is an error, not "no match".
    for pasted in ("Stream[threads=1]", "Stream[threads=1] @local:default+builtin"):
        named = history(assay_cli, "-n", pasted)
        assert [c["name"] for c in named["cases"]] == [
            "Stream[threads=1] @local:default+builtin"
        ], pasted
    left = history(assay_cli, "-x", "Stream[threads=1]")
    assert [c["name"] for c in left["cases"]] == ["Stream[threads=2] @local:default+builtin"]
    broken = assay_cli("history", "-n", "Strem(")
    assert broken.code == 2 and "not a valid regular expression" in broken.stderr, broken
    # The same through the query API the other modules use.
    with ResultsDB.open(results_target) as db:
        key = CaseKey("Stream", {"threads": "1"}, "local:default", "builtin", 1)
        assert [p.value for p in db.metric_series(key, "triad")] == [10.0, 11.0]
        assert [p.status for p in db.case_series(key)] == ["passed", "passed", "failed"]


def test_compare_shows_failures_fixes_appearances_and_metric_changes(
    assay_cli, write, tmp_path, results_target
):
    use_database(tmp_path, results_target)
    write(
        "test_cmp.py",
        """
        import assay

        class Flip(assay.Test):
            fail = assay.variable(int, 0)
            command = "exit {fail}"

        class Heal(assay.Test):
            fail = assay.variable(int, 1)
            command = "exit {fail}"

        class Gone(assay.Test):
            command = "true"

        class Speed(assay.Test):
            rate = assay.variable(float, 100.0)
            command = "echo rate {rate}"

            @assay.metric("op/s")
            def ops(self, out):
                return out.extract(r"rate (\\S+)", float)
        """,
    )
    first = assay_cli("run", "test_cmp.py", "--plain")
    assert first.code == 1, first
    a = first.report["session"]["id"]  # (report reads the latest session)
    write(
        "test_new.py",
        """
        import assay

        class New(assay.Test):
            command = "true"
        """,
    )
    second = assay_cli(
        "run",
        "test_cmp.py",
        "test_new.py",
        "-x",
        "Gone",
        "-S",
        "Flip.fail=1",
        "-S",
        "Heal.fail=0",
        "-S",
        "rate=88",
        "--plain",
    )
    assert second.code == 1, second
    b = second.report["session"]["id"]
    shown = assay_cli("compare", "--json")
    assert shown.code == 0, shown
    data = json.loads(shown.stdout)
    assert (data["a"]["id"], data["b"]["id"]) == (a, b)
    sections = ("new_failures", "fixed", "still_failing", "appeared", "disappeared")
    names = {k: [c["name"].split(" @")[0] for c in data[k]] for k in sections}
    assert names["new_failures"] == ["Flip"]
    assert data["new_failures"][0]["reason"].startswith("sanity: ")
    assert names["fixed"] == ["Heal"]
    assert names["appeared"] == ["New"]
    assert names["disappeared"] == ["Gone"]
    [metric] = data["metrics"]
    assert (metric["metric"], metric["a"], metric["b"]) == ("ops", 100.0, 88.0)
    assert metric["change"] == pytest.approx(-0.12)
    # Two sessions are too little history to tell a change from noise.
    assert metric["significance"] == "too little history"
    # The table, and sessions named by a start of their ids.
    # (The shortest start of b's id, two characters short at most, that a's does not share:
    # two sessions of the same second share 2 random hex digits once in 256.)
    start = next(b[:n] for n in range(len(b) - 2, len(b) + 1) if not a.startswith(b[:n]))
    table = assay_cli("compare", a, start)
    assert table.code == 0, table
    assert "new failures: 1" in table.stdout and "fixed: 1" in table.stdout
    assert "-12.0%" in table.stdout
    assert "1 new failure(s), 1 fixed, 1 appeared, 1 disappeared" in table.stdout


def test_compare_judges_changes_against_their_history(assay_cli, write, tmp_path, results_target):
    """assay compare's significance: change-point detection over the series' recorded
    history up to B (the same E-Divisive test as --fail-on-regression)."""
    use_database(tmp_path, results_target)
    write("test_bw.py", BANDWIDTH)
    noise = [10.0, 10.1, 9.9, 10.05, 9.95, 10.0, 10.1, 9.9, 10.0, 10.05]
    for bw in noise:
        assert assay_cli("run", "test_bw.py", "-S", f"bw={bw}", "--plain").code == 0
    calm = assay_cli("compare", "--json")
    assert {m["significance"] for m in json.loads(calm.stdout)["metrics"]} == {"not significant"}
    step = assay_cli("run", "test_bw.py", "-S", "bw=8.0", "--repeat", "2", "--plain")
    assert step.code == 0, step
    data = json.loads(assay_cli("compare", "--json").stdout)
    assert data["b"]["id"] == step.report["session"]["id"]
    assert [m["significance"].split(",")[0] for m in data["metrics"]] == ["regression"] * 2
    assert all("p=" in m["significance"] for m in data["metrics"])
    table = assay_cli("compare")
    assert "regression, p=" in table.stdout


def test_compare_by_default_takes_the_last_session_with_the_same_cases(assay_cli, write):
    write("test_bw.py", BANDWIDTH)
    base = assay_cli("run", "test_bw.py", "-S", "bw=10", "--plain").report["session"]["id"]
    assay_cli("run", "test_bw.py", "-P", "threads=1", "-S", "bw=1", "--plain")  # a partial rerun
    last = assay_cli("run", "test_bw.py", "-S", "bw=20", "--plain")
    data = json.loads(assay_cli("compare", "--json").stdout)
    assert data["a"]["id"] == base
    assert data["b"]["id"] == last.report["session"]["id"]
    assert {m["change"] for m in data["metrics"]} == {1.0}
    table = assay_cli("compare")
    # Names are printed as they are (brackets are no markup), control characters escaped.
    assert "Stream[threads=1] @local:default+builtin  triad [GB/s]" in table.stdout
    assert "+100.0%" in table.stdout


def test_compare_says_which_session_it_cannot_find(assay_cli, write):
    write("test_bw.py", BANDWIDTH)
    nothing = assay_cli("compare")
    assert nothing.code == 2 and "nothing is recorded under .assay" in nothing.stderr
    (nothing.cwd / ".assay").mkdir()
    ResultsDB.open(nothing.cwd / ".assay" / "results.sqlite").close()  # a database, empty
    empty = assay_cli("compare")
    assert empty.code == 2 and "nothing to compare" in empty.stderr
    run = assay_cli("run", "test_bw.py", "--plain")
    alone = assay_cli("compare")
    assert alone.code == 2 and "no session before" in alone.stderr
    missing = assay_cli("compare", "nope", run.report["session"]["id"])
    assert missing.code == 2
    assert "no recorded session 'nope'" in missing.stderr
    assert run.report["session"]["id"] in missing.stderr  # the recent ones are listed
    assert "Traceback" not in missing.stderr


def test_readers_where_nothing_was_recorded_say_where_they_looked_and_make_nothing(
    assay_cli, tmp_path
):
    # (they once made .assay/results.sqlite wherever they were run, and said "no recorded
    # case matches" or "nothing to compare": a user in the wrong directory was not told so)
    for argv in (["history"], ["history", "--json"], ["compare"], ["store", "why", "x"]):
        shown = assay_cli(*argv)
        assert shown.code == 2, (argv, shown)
        assert "nothing is recorded under .assay: no results database" in shown.stderr
        assert "--prefix" in shown.stderr and "Traceback" not in shown.stderr
    assert not (tmp_path / ".assay").exists()


def test_failed_reads_each_cases_last_verdict(assay_cli, write, tmp_path, results_target):
    use_database(tmp_path, results_target)
    write(
        "test_ab.py",
        """
        import assay

        class A(assay.Test):
            fail = assay.variable(int, 1)
            command = "exit {fail}"

        class B(assay.Test):
            command = "exit 1"
        """,
    )
    assert assay_cli("run", "test_ab.py", "--plain").code == 1
    # One case rerun (and fixed), then a session whose test file did not even load.
    assert assay_cli("run", "test_ab.py", "-n", "A", "-S", "fail=0", "--plain").code == 0
    write("test_broken.py", "import assay\nthis is not python\n")
    assert assay_cli("run", "test_broken.py", "--plain").code == 1
    again = assay_cli("run", "test_ab.py", "--failed", "--plain")
    assert [c["name"].split(" @")[0] for c in again.report["cases"]] == ["B"]


def test_failed_without_a_database_reads_the_newest_session(assay_cli, write, tmp_path):
    use_database(tmp_path, "none")
    write("test_ab.py", "import assay\n\nclass B(assay.Test):\n    command = 'exit 1'\n")
    assert assay_cli("run", "test_ab.py", "--plain").code == 1
    again = assay_cli("run", "test_ab.py", "--failed", "--plain")
    assert [c["name"].split(" @")[0] for c in again.report["cases"]] == ["B"]
    assert not (tmp_path / ".assay/results.sqlite").exists()
    off = assay_cli("history")
    assert off.code == 2 and 'results = "none"' in off.stderr


def test_sessions_from_before_the_database_are_imported_on_first_use(assay_cli, write, tmp_path):
    use_database(tmp_path, "none")
    write("test_bw.py", BANDWIDTH)
    for bw in (1, 2):
        assert assay_cli("run", "test_bw.py", "-S", f"bw={bw}", "--plain").code == 0
    (tmp_path / "assay.toml").unlink()  # from now on: the default database in the prefix
    data = history(assay_cli)
    assert [v["value"] for v in data["cases"][0]["metrics"]["triad"]] == [1.0, 2.0]
    forced = assay_cli("history", "--import")
    assert forced.code == 0, forced
    assert "imported 2 session(s)" in forced.stdout
    data = history(assay_cli)
    assert [v["value"] for v in data["cases"][0]["metrics"]["triad"]] == [1.0, 2.0]


def test_a_database_that_cannot_be_used_does_not_lose_the_run(assay_cli, write, tmp_path):
    (tmp_path / "db-is-a-dir").mkdir()
    use_database(tmp_path, str(tmp_path / "db-is-a-dir"))
    write("test_bw.py", BANDWIDTH)
    run = assay_cli("run", "test_bw.py", "--plain")
    assert run.code == 0, run
    assert run.stderr.count("assay: warning:") == 1
    assert "db-is-a-dir" in run.stderr and "not recorded there" in run.stderr
    assert run.report["summary"]["passed"] == 2
    # Given a usable database, the session is imported: nothing was lost.
    use_database(tmp_path, str(tmp_path / "results.sqlite"))
    data = history(assay_cli)
    assert [len(c["runs"]) for c in data["cases"]] == [1, 1]


def test_a_newer_database_is_refused_by_history_and_a_run_goes_on(assay_cli, write, tmp_path):
    write("test_bw.py", BANDWIDTH)
    assert assay_cli("run", "test_bw.py", "--plain").code == 0
    with ResultsDB.open(tmp_path / ".assay/results.sqlite") as db:
        db.backend.write(
            lambda w: w.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        )
    shown = assay_cli("history")
    assert shown.code == 2, shown
    assert "schema version 99, made by a newer assay" in shown.stderr
    assert f"knows versions up to {SCHEMA_VERSION}" in shown.stderr
    assert "Traceback" not in shown.stderr
    run = assay_cli("run", "test_bw.py", "--plain")
    assert run.code == 0 and run.stderr.count("schema version 99") == 1


def test_the_sessions_commit_and_dirty_state_are_recorded(assay_cli, write, tmp_path):
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b"}
    env |= {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=tmp_path / "repo",
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        ).stdout.strip()

    write("repo/test_bw.py", BANDWIDTH)
    git("init", "-q")
    git("add", "test_bw.py")
    git("commit", "-qm", "tests")
    assert assay_cli("run", "repo/test_bw.py", "--plain").code == 0
    (tmp_path / "repo/test_bw.py").write_text(BANDWIDTH + "\n# changed\n")
    second = assay_cli("run", "repo/test_bw.py", "--plain")
    assert second.code == 0
    with ResultsDB.open(tmp_path / ".assay/results.sqlite") as db:
        sessions = db.sessions(2)
    head = git("rev-parse", "HEAD")
    assert [(s.git_commit, s.git_dirty) for s in sessions] == [(head, True), (head, False)]
    # The same field in the report (what SessionDirs and the HTML report read).
    assert second.report["session"]["git"] == {"commit": head, "dirty": True}
    assert all(s.config_hash and s.version and s.command[:2] == ["assay", "run"] for s in sessions)


# --- two writers and a reader --------------------------------------------------------------

MANY = """
import assay

class Many(assay.Test):
    i = assay.parameter(range({count}))
    command = "echo {{i}}"

    @assay.metric("x")
    def value(self, out):
        return out.extract(r"(\\d+)", float)
"""


def test_two_runs_and_a_reader_at_once(tmp_path, results_target):
    """No "database is locked" for anyone: two `assay run`s write a new database while
    `assay history` reads it, all as real processes, from the first moment on (a read
    before anything was recorded is told so)."""
    use_database(tmp_path, results_target)
    (tmp_path / "test_many.py").write_text(MANY.format(count=150))
    env = {**os.environ, "ASSAY_STORE": str(tmp_path / ".store"), "COLUMNS": "200"}
    env.pop("ASSAY_CONFIG", None)

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "assay", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    runs = [
        start("run", "test_many.py", "--plain", "--max-jobs", "4", "--prefix", f"p{i}")
        for i in range(2)
    ]
    reads = []
    while any(r.poll() is None for r in runs) or len(reads) < 3:
        reader = start("history", "--json", "--prefix", "p0")
        out, err = reader.communicate(timeout=120)
        reads.append((reader.returncode, err))
    outputs = [r.communicate(timeout=300) for r in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-2000:] + err
        assert "locked" not in err and "warning" not in err, err
    # A read before anything was recorded says so (and makes no database); every other
    # one reads, and none finds the database locked.
    for code, err in reads:
        assert "locked" not in err, err
        assert code == 0 or (code == 2 and "nothing is recorded under p0" in err), err
    assert any(code == 0 for code, _ in reads)
    with ResultsDB.open(results_target) as db:
        sessions = db.sessions(5)
        assert len(sessions) == 2 and all(s.complete for s in sessions)
        assert [len(db.session_cases(s.id)) for s in sessions] == [150, 150]
        assert len(db.catalogue()) == 150


# --- scheduling ----------------------------------------------------------------------------

SLEEPERS = """
import assay

class Sleep(assay.Test):
    t = assay.parameter(["0.05", "0.1", "0.2", "0.4"])
    command = "sleep {t}"
"""


def _started_order(stdout: str) -> list[str]:
    return [line.split("t=")[1].split("]")[0] for line in stdout.splitlines() if "[  RUN]" in line]


def _longest_recorded_first(target: str | Path, session_id: str) -> list[str]:
    """The sleeps of a session's cases, longest expected first, as the database now says:
    what the scheduler plans the next run with. Under load a 0.05 s sleep can take longer
    than a 0.1 s one, so the order comes from what was recorded, not from the sleeps."""
    with ResultsDB.open(target) as db:
        rows = db.session_cases(session_id)
        expected = db.expected([r.series for r in rows])
    rows.sort(key=lambda r: -expected[r.series].work)
    return [r.name.split("t=")[1].split("]")[0] for r in rows]


def test_the_second_run_starts_the_longest_recorded_cases_first(assay_cli, write, tmp_path):
    write("test_sleep.py", SLEEPERS)
    first = assay_cli("run", "test_sleep.py", "--plain", "--max-jobs", "1")
    assert first.code == 0, first
    assert _started_order(first.stdout) == ["0.05", "0.1", "0.2", "0.4"]  # declared order
    database = tmp_path / ".assay/results.sqlite"
    longest_first = _longest_recorded_first(database, first.report["session"]["id"])
    # Recorded durations, not the declared order (that would take all four sleeps swapped).
    assert longest_first != ["0.05", "0.1", "0.2", "0.4"]
    second = assay_cli("run", "test_sleep.py", "--plain", "--max-jobs", "1")
    assert _started_order(second.stdout) == longest_first
    longest_first = _longest_recorded_first(database, second.report["session"]["id"])
    serial = assay_cli("run", "test_sleep.py", "--plain", "--serial")
    assert _started_order(serial.stdout) == longest_first
    # The time-left estimate was made at the start, from those durations; the report
    # says how far off it was.
    estimate = second.report["session"]["estimate"]
    assert estimate["made"] < 0.5
    assert estimate["total"] == pytest.approx(estimate["made"] + estimate["left"], abs=0.01)
    assert estimate["actual"] == pytest.approx(second.report["session"]["duration"], abs=0.01)
    # The summary says it only for a run long enough for the error to matter (not this one).
    assert "first estimate" not in second.stdout


def test_repeat_records_every_sample_and_each_round_goes_longest_first(
    assay_cli, write, tmp_path, results_target
):
    use_database(tmp_path, results_target)
    write("test_sleep.py", SLEEPERS)
    first = assay_cli("run", "test_sleep.py", "--plain", "--max-jobs", "1")
    assert first.code == 0, first
    longest_first = _longest_recorded_first(results_target, first.report["session"]["id"])
    assert longest_first != ["0.05", "0.1", "0.2", "0.4"]  # not the declared order
    run = assay_cli("run", "test_sleep.py", "--plain", "--max-jobs", "1", "--repeat", "3")
    assert run.code == 0, run
    # Round-robin rounds, each of them longest recorded first.
    assert _started_order(run.stdout) == longest_first * 3
    with ResultsDB.open(results_target) as db:
        rows = db.session_cases(run.report["session"]["id"])
        assert sorted((r.name.split("t=")[1][:4], r.rep) for r in rows) == sorted(
            (t, rep) for t in ("0.05", "0.1]", "0.2]", "0.4]") for rep in (1, 2, 3)
        )
    data = history(assay_cli, "-P", "t=0.4")
    (case,) = data["cases"]
    assert [r["status"] for r in case["runs"]] == ["passed"] * 4  # 1 + 3 samples


def test_declared_time_limits_order_cases_never_seen(assay_cli, write):
    write(
        "test_limits.py",
        """
        import assay

        class Quick(assay.Test):
            command = "true"
            time_limit = "10s"

        class Slow(assay.Test):
            command = "true"
            time_limit = "1h"
        """,
    )
    run = assay_cli("run", "test_limits.py", "--plain", "--max-jobs", "1")
    started = [
        line.split("] ")[1].split(" @")[0] for line in run.stdout.splitlines() if "RUN]" in line
    ]
    assert started == ["Slow", "Quick"]


def test_time_left_is_shown_from_the_start_on_a_terminal(tmp_path, write):
    from tests.conftest import run_on_terminal

    write("test_sleep.py", SLEEPERS.replace('["0.05", "0.1", "0.2", "0.4"]', '["1.5", "1.6"]'))
    code, _ = run_on_terminal("run", "test_sleep.py", "--max-jobs", "1", cwd=tmp_path)
    assert code == 0
    code, screen = run_on_terminal("run", "test_sleep.py", "--max-jobs", "1", cwd=tmp_path)
    assert code == 0
    # Before any case finished (0/2), recorded durations already give an estimate.
    assert " 0/2 " in screen and "left" in screen.split(" 1/2 ")[0]


def test_docs_point_to_the_history_page():
    assert (ROOT / "docs/history.md").is_file()
    assert "history.md" in (ROOT / "docs/cli.md").read_text()


def _now() -> float:
    return time.time()


def test_test_all_starts_postgresql_and_requires_its_tests():
    """scripts/test-all installs the server (system-packages.txt), starts it with
    scripts/postgres-ci and makes a missing server a failure, not a skip."""
    script = (ROOT / "scripts" / "test-all").read_text()
    root_branch = script.split('if [ "$(id -u)" -eq 0 ]; then\n    say "Slurm cluster"')[1]
    root_branch = root_branch.split("\nelse\n")[0]
    assert "ASSAY_TEST_POSTGRES=$(scripts/postgres-ci up)" in root_branch
    assert "export ASSAY_TEST_POSTGRES ASSAY_REQUIRE_POSTGRES=1" in root_branch
    packages = (ROOT / "requirements" / "system-packages.txt").read_text().splitlines()
    assert "postgresql" in [line.split("#")[0].strip() for line in packages]
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_TEST_POSTGRES"}
    env["ASSAY_REQUIRE_POSTGRES"] = "1"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "tests/unit/test_results_db.py", "-k", "postgres"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-2000:]
    assert "ASSAY_REQUIRE_POSTGRES=1 but ASSAY_TEST_POSTGRES is not set" in run.stdout
    assert " skipped" not in run.stdout.splitlines()[-1]
