"""The host agent's folded requests, run here in-process: a spawn that writes its case's
files first, and one removal request for many stage dirs."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.transports import hostagent_pack
from assay.transports.hostagent import procscan, spawn
from assay.transports.hostagent.daemon import Daemon
from assay.transports.hostagent.jobs import Job
from assay.transports.hostagent.pool import Pool
from assay.transports.ssh_boot import BOOT


def _daemon(tmp_path: Path) -> Daemon:
    daemon = Daemon(str(tmp_path / "a.sock"), linger=3600.0)
    daemon.roots = [os.path.realpath(tmp_path / "work")]
    return daemon


def _file(rel: str, data: bytes) -> dict[str, object]:
    return {"path": rel, "data": base64.b64encode(data).decode(), "mode": None}


def _status_at_end(daemon: Daemon, jid: str) -> int | None:
    """The job's exit status once it ended. A short job may end, and be forgotten in favour
    of its status in ``daemon.ended``, before the spawn's caller looks: both are read under
    the daemon's lock, where the one moves to the other."""
    with daemon.lock:
        job = daemon.jobs.get(jid)
        status = daemon.ended.get(jid)
    if job is None:
        assert status is not None, f"{jid} neither runs nor ended"
        return status
    assert job.ended.wait(30)
    return job.status


def test_a_spawn_with_files_writes_them_first_and_lists_the_dir(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    (case / "stale").write_text("from an earlier attempt")
    answer = daemon.op_spawn(
        {
            "job": "j1",
            "argv": ["/bin/sh", "job.sh"],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
            "prepare": {
                "dir": str(case),
                "files": [_file("job.sh", b"echo hi\n"), _file("in/x.txt", b"x")],
                "fresh": True,
            },
        }
    )
    assert _status_at_end(daemon, "j1") == 0
    assert sorted(answer["files"]) == ["in/x.txt", "job.sh"]  # the stale file went first
    assert (case / "o").read_text() == "hi\n"
    daemon.stop()


def test_a_spawn_whose_files_cannot_be_written_starts_nothing_and_says_which_step(
    tmp_path: Path,
) -> None:
    daemon = _daemon(tmp_path)
    case = tmp_path / "work" / "case"
    with pytest.raises(OSError) as caught:
        daemon.op_spawn(
            {
                "job": "j1",
                "argv": ["/bin/sh", "-c", "touch ran"],
                "cwd": str(case),
                "stdout": str(case / "o"),
                "stderr": str(case / "e"),
                "prepare": {"dir": str(case), "files": [_file("../out", b"x")], "fresh": True},
            }
        )
    assert caught.value.filename == "../out"
    assert getattr(caught.value, "assay_step", None) == "prepare"
    assert daemon.jobs == {} and not (case / "ran").exists()
    assert not (tmp_path / "work" / "out").exists()
    daemon.stop()


def test_one_removal_request_for_many_dirs_says_which_it_could_not_remove(
    tmp_path: Path,
) -> None:
    daemon = _daemon(tmp_path)
    work = tmp_path / "work"
    for name in ("a", "b"):
        (work / name / "sub").mkdir(parents=True)
        (work / name / "sub" / "f").write_text(name)
    (tmp_path / "home").mkdir()
    answer = daemon.op_remove(
        {"paths": [str(work / "a"), str(tmp_path / "home"), str(work / "b"), str(work / "gone")]}
    )
    assert not (work / "a").exists() and not (work / "b").exists()
    assert (tmp_path / "home").is_dir()  # outside the session's roots: never removed
    assert answer["failed"] == [
        [str(tmp_path / "home"), "not below the work directory, not removed"]
    ]
    daemon.stop()


def test_the_daemon_counts_the_requests_it_served(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    for rid in ("1", "2", "3"):
        daemon.handle({"rid": rid, "op": "mkdir", "path": str(tmp_path / "work" / rid)})
    daemon.handle({"rid": "4", "op": "nonsense"})
    stats = daemon.stats()
    assert stats["requests"] == {"mkdir": 3, "nonsense": 1}
    assert stats["cpu"] >= 0
    daemon.stop()


def test_a_job_started_with_its_files_brings_back_what_it_made_with_its_end(
    tmp_path: Path,
) -> None:
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]  # what would go to assay
    case = tmp_path / "work" / "case"
    daemon.op_spawn(
        {
            "job": "j1",
            "argv": ["/bin/sh", "job.sh"],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
            "prepare": {"dir": str(case), "files": [_file("job.sh", b"echo hi > new\n")]},
            "collect": {"names": ["o"], "patterns": [], "max_file": 100, "max_total": 1000},
        }
    )
    for _ in range(1200):  # the event comes when the job has ended
        if sent:
            break
        time.sleep(0.05)
    (event,) = sent
    assert event["event"] == "exit" and event["status"] == 0
    collected = event["collected"]
    assert isinstance(collected, dict)
    assert sorted(f["path"] for f in collected["files"]) == ["e", "new", "o"]  # not job.sh
    daemon.stop()


def _spawn(daemon: Daemon, case: Path, script: str, **extra: object) -> None:
    case.mkdir(parents=True, exist_ok=True)
    daemon.op_spawn(
        {
            "job": "j1",
            "argv": ["/bin/sh", "-c", script],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
            **extra,
        }
    )


def _ended(daemon: Daemon, sent: list[dict[str, object]]) -> dict[str, object]:
    for _ in range(1200):
        if sent:
            return sent[0]
        time.sleep(0.05)
    raise AssertionError("no exit event")


def test_a_job_that_ends_before_its_limit_leaves_no_timer_behind(tmp_path: Path) -> None:
    # A thread per job sleeping until its time limit: thousands of cases, thousands of
    # threads, until the agent cannot start another.
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]  # what would go to assay
    before = {t for t in threading.enumerate() if isinstance(t, threading.Timer)}
    _spawn(daemon, tmp_path / "work" / "case", "true", limit=3600.0)
    _ended(daemon, sent)
    for _ in range(200):
        timers = {t for t in threading.enumerate() if isinstance(t, threading.Timer)} - before
        if not timers:
            break
        time.sleep(0.05)
    assert timers == set()
    daemon.stop()


def test_what_a_short_job_left_outside_its_group_is_killed_as_it_ends(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]
    pid_file = tmp_path / "escaped.pid"
    # setsid: out of the job's process group, found by its token, among the later pids.
    _spawn(daemon, tmp_path / "work" / "case", f"setsid sleep 300 & echo $! > {pid_file}")
    _ended(daemon, sent)
    pid = int(pid_file.read_text())
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the escaped process {pid} still runs")
    daemon.stop()


def test_a_long_job_has_its_leftovers_looked_for_among_every_process(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    case = tmp_path / "work" / "case"
    _spawn(daemon, case, "sleep 0.1")
    (job,) = daemon.jobs.values()
    assert procscan.floor_of(job) in (0, job.proc.pid - 1)  # short: its own pid, if known
    job.started -= 2 * procscan._SHORT
    assert procscan.floor_of(job) == 0  # pids may have wrapped around meanwhile
    job.ended.wait(30)
    daemon.stop()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="no pidfd here: a thread per job")
def test_running_jobs_take_no_thread_each(tmp_path: Path) -> None:
    # Two threads started per job (its wait and its time limit) cost the agent CPU and a
    # hand-over of the interpreter lock each, on every case: one watcher follows them all.
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]
    before = threading.active_count()
    go = tmp_path / "go"
    for n in range(6):
        case = tmp_path / "work" / f"c{n}"
        case.mkdir(parents=True)
        daemon.op_spawn(
            {
                "job": f"j{n}",
                "argv": ["/bin/sh", "-c", f"while [ ! -e {go} ]; do sleep 0.05; done"],
                "cwd": str(case),
                "stdout": str(case / "o"),
                "stderr": str(case / "e"),
                "limit": 3600.0,
            }
        )
    grown = threading.active_count() - before
    go.touch()
    for _ in range(1200):
        if len(sent) == 6:
            break
        time.sleep(0.05)
    assert sorted((e["job"], e["status"]) for e in sent) == [(f"j{n}", 0) for n in range(6)]
    assert grown <= 1  # the watcher
    daemon.stop()


def test_a_job_past_its_limit_is_stopped_by_the_agent(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]
    _spawn(daemon, tmp_path / "work" / "case", "exec sleep 300", limit=0.3, grace=0.2)
    event = _ended(daemon, sent)
    assert event["status"] == -15  # SIGTERM at the limit, which sleep does not survive
    daemon.stop()


def test_jobs_ending_together_are_each_reported_once(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]
    for n in range(40):
        case = tmp_path / "work" / f"c{n}"
        case.mkdir(parents=True)
        daemon.op_spawn(
            {
                "job": f"j{n}",
                "argv": ["/bin/sh", "-c", f"exit {n % 7}"],
                "cwd": str(case),
                "stdout": str(case / "o"),
                "stderr": str(case / "e"),
                "limit": 60.0 if n % 2 else None,
            }
        )
    for _ in range(1200):
        if len(sent) >= 40:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # nothing more comes
    assert sorted((e["job"], e["status"]) for e in sent) == sorted(
        (f"j{n}", n % 7) for n in range(40)
    )
    assert daemon.jobs == {}
    daemon.stop()


def test_a_short_jobs_leftovers_are_looked_up_by_pid_without_listing_proc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listing /proc (every process of the host) as each job ends cost the agent about
    # 0.4 ms of its 1.3 ms per job; the pids handed out since a short job started are few,
    # and one of them holds what it left (as assay's own runner looks for them).
    listed: list[str] = []
    real = os.listdir

    def spy(path: str = ".") -> list[str]:
        listed.append(str(path))
        return real(path)

    env = dict(os.environ, **{procscan.TOKEN: "short-job-token"})
    left = subprocess.Popen(["sleep", "300"], env=env, cwd=tmp_path, start_new_session=True)
    try:
        monkeypatch.setattr(os, "listdir", spy)
        found = procscan.leftovers({"short-job-token"}, left.pid - 1)
        monkeypatch.setattr(os, "listdir", real)
        assert found == [left.pid]
        assert "/proc" not in listed
        assert procscan.leftovers({"short-job-token"}, 0) == found  # as the listing finds
    finally:
        left.kill()
        left.wait()


def _job_sees(daemon: Daemon, case: Path, argv: list[str]) -> Job:
    case.mkdir(parents=True, exist_ok=True)
    started: list[Job] = []
    watch = daemon.watcher.add

    def add(job: Job, limit: float | None) -> bool:
        started.append(job)  # caught as it starts: it leaves daemon.jobs as it ends
        return watch(job, limit)

    daemon.watcher.add = add  # type: ignore[method-assign]
    daemon.op_spawn(
        {
            "job": case.name,
            "argv": argv,
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
            "env": {"GIVEN": "yes"},
        }
    )
    daemon.watcher.add = watch  # type: ignore[method-assign]
    (job,) = started
    assert job.ended.wait(30)
    return job


@pytest.mark.skipif(spawn.spawner() is None, reason="no posix_spawn that can do it all")
def test_a_job_starts_with_posix_spawn_and_gets_what_popen_gave_it(tmp_path: Path) -> None:
    # Popen's vfork holds the interpreter lock until the child has exec'd (Python < 3.12):
    # the daemon's other threads waited on every job's start. The child must get the same.
    daemon = _daemon(tmp_path)
    daemon.send = lambda message: None  # type: ignore[method-assign, assignment]
    case = tmp_path / "work" / "case"
    script = (
        'echo "cwd=$(pwd)"; echo "sid=$(ps -o sid= -p $$ | tr -d " ") pid=$$"; '
        "grep -E '^SigIgn' /proc/$$/status; echo \"given=$GIVEN token=${"
        + procscan.TOKEN
        + ':+set}"; cat; echo "stdin-end"; echo oops >&2'
    )
    job = _job_sees(daemon, case, ["/bin/sh", "-c", script])
    assert isinstance(job.proc, spawn.Spawned)
    assert job.status == 0
    lines = (case / "o").read_text().splitlines()
    assert lines[0] == f"cwd={os.path.realpath(case)}"
    sid, pid = (part.split("=")[1] for part in lines[1].split())
    assert sid == pid  # a session (and process group) of its own
    ignored = int(lines[2].split()[1], 16)
    import signal as sig

    assert not ignored & (1 << (sig.SIGPIPE - 1))  # back to the default, as with Popen
    assert lines[3] == "given=yes token=set"
    assert lines[4] == "stdin-end"  # stdin: /dev/null, at its end at once
    assert (case / "e").read_text() == "oops\n"
    # No descriptor of the daemon's: ls sees its own three and the one it lists with.
    listed = tmp_path / "work" / "fds"
    _job_sees(daemon, listed, ["/bin/ls", "/proc/self/fd"])
    assert sorted((listed / "o").read_text().split(), key=int) == ["0", "1", "2", "3"]
    daemon.stop()


@pytest.mark.skipif(spawn.spawner() is None, reason="no posix_spawn that can do it all")
def test_a_job_that_cannot_start_is_named_as_popen_named_it(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    base = {"job": "x", "cwd": str(case), "stdout": str(case / "o"), "stderr": str(case / "e")}
    with pytest.raises(FileNotFoundError) as missing:
        daemon.op_spawn({**base, "argv": [str(tmp_path / "no-such-program")]})
    assert missing.value.filename == str(tmp_path / "no-such-program")
    gone = str(tmp_path / "work" / "gone")
    with pytest.raises(FileNotFoundError) as no_dir:
        daemon.op_spawn({**base, "job": "y", "cwd": gone, "argv": ["/bin/true"]})
    assert no_dir.value.filename == gone
    assert daemon.jobs == {}
    daemon.stop()


def test_the_agent_imports_only_what_its_start_needs(tmp_path: Path) -> None:
    # Each of these cost the host 1-5 ms of CPU at every agent start (with logging under
    # concurrent.futures), on the way to a run's first case; none is needed to serve it.
    # Started as on a host (the zip through the boot program), with no arguments: every
    # module is imported, then the usage is printed. The first start per host, Python and
    # agent version reads the zip with zipfile (which imports pathlib) to compile it; every
    # next one runs the code kept then and opens no zip.
    agent = hostagent_pack.write_agent(str(tmp_path / "hostagent-x.pyz"))
    digest = hostagent_pack.agent_digest()
    heavy = ("typing", "concurrent.futures", "logging", "pathlib", "secrets")
    probe = (
        "import atexit, sys\n"
        f"heavy = {heavy!r}\n"
        "atexit.register(lambda: print(' '.join(m for m in heavy if m in sys.modules)))\n"
        "atexit.register(lambda: print('imported' * ('assay_hostagent.daemon' in sys.modules)))\n"
        f"{BOOT}\n"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    for start in ("first", "next"):
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-c", probe, agent, digest],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert out.returncode == 2 and "usage:" in out.stderr, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == "imported", start  # the control: the daemon's module was loaded
        if start == "next":
            assert lines[1:] in ([], [""]), lines


def test_the_agents_pool_runs_everything_submitted_with_at_most_its_threads() -> None:
    pool = Pool(3)
    gate = threading.Event()
    done: list[int] = []
    lock = threading.Lock()
    threads: set[int] = set()

    def work(n: int) -> None:
        gate.wait(30)
        with lock:
            done.append(n)
            threads.add(threading.get_ident())

    for n in range(20):
        pool.submit(work, n)
    gate.set()
    for _ in range(600):
        with lock:
            if len(done) == 20:
                break
        time.sleep(0.05)
    assert sorted(done) == list(range(20))
    assert 1 <= len(threads) <= 3
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        pool.submit(work, 99)  # a stopping daemon's pool takes no more


def test_a_long_request_does_not_hold_back_what_is_submitted_after_it() -> None:
    # A command that takes its time (sbatch on a slow login node) keeps one thread: the
    # next job's end must get a thread of its own, not wait behind it.
    pool = Pool(4)
    long_one = threading.Event()
    for _ in range(2):  # two quick ones first: their thread goes back to waiting
        pool.submit(lambda: None)
    time.sleep(0.2)
    pool.submit(long_one.wait, 60)
    ran = threading.Event()
    pool.submit(ran.set)
    assert ran.wait(30)
    long_one.set()
    pool.shutdown()
