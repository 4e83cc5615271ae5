"""What a session starts once its first process has started (assay.session.kickoff)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from assay.session.kickoff import Kickoff
from assay.session.running import _probe_git


def test_work_waits_for_the_first_fire_and_starts_in_order_once() -> None:
    started: list[str] = []
    kickoff = Kickoff()
    kickoff.then(lambda: started.append("git"))
    kickoff.then(lambda: started.append("database"))
    assert started == []
    kickoff.fire()
    kickoff.fire()
    assert started == ["git", "database"]
    kickoff.then(lambda: started.append("late"))  # handed after the fire: started at once
    assert started == ["git", "database", "late"]


def test_the_commit_is_asked_when_its_answer_is_wanted_if_nothing_fired(tmp_path: Path) -> None:
    # Whatever waits for the commit (the recorder's thread) must get it even if no
    # process ever started and the fire never came.
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a").write_text("a")
    subprocess.run([*git, "add", "a"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    probe = _probe_git(tmp_path, Kickoff())
    state = probe.result(timeout=30)
    assert state is not None and state.commit == head.strip() and state.dirty is False
