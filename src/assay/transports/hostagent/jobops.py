"""The daemon's job requests (a mixin of :class:`.daemon.Daemon`): commands run to their
end, jobs started, watched, timed out, ended with their leftovers, and found again when a
daemon of the same name died."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading

from .fileops import FileOps
from .files import clear, create, unlink_quietly
from .jobs import Job
from .procscan import TOKEN, floor_of, kill_leftovers, killpg
from .protocol import REMEMBERED
from .spawn import Spawned, spawner

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any

    from .jobs import Watcher
    from .pool import Pool


class JobOps(FileOps):
    """The ``op_*`` job requests, and the jobs' ends. The state is the daemon's."""

    state: str  # the folder of the pid files
    lock: threading.Lock
    jobs: dict[str, Job]
    tokens: set[str]
    ended: dict[str, int]
    pool: Pool
    watcher: Watcher

    def send(self, message: dict[str, Any]) -> None:
        raise NotImplementedError  # the daemon's: to the connected assay, if any

    def op_run(self, m: dict[str, Any]) -> dict[str, Any]:
        env = dict(os.environ)
        env.update(m.get("env") or {})
        try:
            proc = subprocess.Popen(
                m["argv"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=m.get("cwd"),
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return {
                "code": 127,
                "stdout": "",
                "stderr": f"{m['argv'][0]}: {exc.strerror}",
            }
        try:
            out, err = proc.communicate(timeout=float(m.get("timeout", 60)))
        except subprocess.TimeoutExpired:
            killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {
                "code": 124,
                "stdout": "",
                "stderr": f"{m['argv'][0]}: no answer in time",
            }
        return {
            "code": proc.returncode if proc.returncode >= 0 else 128 - proc.returncode,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
        }

    def op_spawn(self, m: dict[str, Any]) -> dict[str, Any]:
        """Start a job; with ``prepare``, its directory is first made and its files written
        as :meth:`op_prepare` does (one request per case instead of two)."""
        jid = m["job"]
        with self.lock:
            job = self.jobs.get(jid)
        if job is not None:  # asked again after a reconnection: the same job
            return {"pid": job.proc.pid}
        listed = None
        staged = m.get("prepare")
        if staged is not None:
            try:
                listed = self.op_prepare(staged)["files"]
            except OSError as exc:
                exc.assay_step = "prepare"  # type: ignore[attr-defined]
                raise
        token = os.urandom(16).hex()  # as secrets.token_hex(16)
        env = dict(os.environ)
        env.update(m.get("env") or {})
        env[TOKEN] = token
        argv = m["argv"]
        # The job's output files are made anew: a job that ran in the directory before (a
        # build) may have left a link at their names to a file of the user's, which the
        # open would truncate. What is there goes; a link put back meanwhile fails the
        # start (O_NOFOLLOW), never written through.
        clear(m["stdout"])
        clear(m["stderr"])
        quick = spawner() if argv and "/" in argv[0] else None  # Popen searches $PATH
        proc: subprocess.Popen[bytes] | Spawned
        if quick is not None:
            proc = Spawned(quick.spawn(argv, env, m["cwd"], m["stdout"], m["stderr"]))
        else:
            proc = self._popen(argv, env, m["cwd"], m["stdout"], m["stderr"])
        job = Job(jid, proc, token)
        wanted = m.get("collect")
        if isinstance(wanted, dict) and listed is not None:
            job.collect = dict(wanted, dir=m["cwd"], baseline=listed)
        with self.lock:
            self.jobs[jid] = job
            self.tokens.add(token)
        # Recorded beside the daemon's socket, for whoever looks at the host; made new (a
        # job on this host, run as the user, may have put a link at the name: replaced).
        try:
            with os.fdopen(create(self.pid_file(jid), 0o600), "w") as fh:
                fh.write(f"{proc.pid} {token}\n")
        except OSError:
            pass
        # The time limit is enforced here too, whether assay is connected or not.
        limit = None if m.get("limit") is None else float(m["limit"])
        job.grace = float(m.get("grace", 2))
        if not self.watcher.add(job, limit):  # no pidfds here: threads of its own
            if limit is not None:
                timer = threading.Timer(limit, self.stop_job, (job, job.grace))
                timer.daemon = True
                job.timer = timer  # before the job can be seen to end: it cancels the timer
            threading.Thread(target=self.wait_job, args=(job,), daemon=True).start()
            if job.timer is not None:
                job.timer.start()
        if listed is None:
            return {"pid": proc.pid}
        return {"pid": proc.pid, "files": listed}

    @staticmethod
    def _popen(
        argv: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str
    ) -> subprocess.Popen[bytes]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        out = os.open(stdout, flags, 0o644)
        try:
            err = os.open(stderr, flags, 0o644)
            try:
                return subprocess.Popen(
                    argv,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    start_new_session=True,  # its own session and process group
                    close_fds=True,
                )
            finally:
                os.close(err)
        finally:
            os.close(out)

    def _job_ended(self, job: Job) -> None:
        """The watcher saw ``job`` end: what follows (its leftovers, its files) is done by
        a worker, so that the watcher goes on at once."""
        try:
            self.pool.submit(self.wait_job, job)
        except RuntimeError:  # the daemon is stopping: its pool takes no more
            self.wait_job(job)

    def _job_late(self, job: Job) -> None:
        try:
            self.pool.submit(self.stop_job, job, job.grace)
        except RuntimeError:
            threading.Thread(target=self.stop_job, args=(job, job.grace), daemon=True).start()

    def wait_job(self, job: Job) -> None:
        status = job.proc.wait()
        # What the job left running, in its group or out of it, ends with it (as assay
        # does for a job on its own machine), before anyone hears that it ended.
        job.signal_group(signal.SIGKILL)
        if job.timer is not None:
            job.timer.cancel()  # its thread ends now, not at the limit
        kill_leftovers({job.token}, floor_of(job))
        job.status = status
        job.ended.set()
        with self.lock:
            self.jobs.pop(job.jid, None)
            self.tokens.discard(job.token)
            self.ended[job.jid] = status
            if len(self.ended) > REMEMBERED * 16:
                del self.ended[next(iter(self.ended))]
        unlink_quietly(self.pid_file(job.jid))
        event: dict[str, Any] = {"event": "exit", "job": job.jid, "status": status}
        if job.collect is not None:
            try:
                event["collected"] = self.op_collect(job.collect)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # assay asks for it with a request of its own
        self.send(event)

    def stop_job(self, job: Job, grace: float) -> int:
        if not job.ended.is_set():
            job.signal_group(signal.SIGTERM)
            job.ended.wait(grace)
        job.signal_group(signal.SIGKILL)
        job.ended.wait()
        return job.status if job.status is not None else -9

    def end_jobs(self, jobs: list[Job]) -> None:
        """Kill the jobs' groups and whatever left them; forget the jobs."""
        for job in jobs:
            job.signal_group(signal.SIGKILL)
        kill_leftovers({job.token for job in jobs})
        for job in jobs:
            job.ended.wait(30)
        with self.lock:
            for job in jobs:
                self.jobs.pop(job.jid, None)
                self.tokens.discard(job.token)
        for job in jobs:
            unlink_quietly(self.pid_file(job.jid))

    def end_orphans(self) -> None:
        """Jobs a daemon of this name left when it died (killed, out of memory): their pid
        files are still here; whatever still carries their token is killed."""
        tokens = set()
        for name in os.listdir(self.state):
            path = os.path.join(self.state, name)
            try:
                with open(path) as fh:
                    _pid, token = fh.read().split()
            except (OSError, ValueError):
                token = ""
            if token:
                tokens.add(token)
            unlink_quietly(path)
        kill_leftovers(tokens)

    def pid_file(self, jid: str) -> str:
        return os.path.join(self.state, jid.replace("/", "_") + ".pid")

    def _job(self, m: dict[str, Any]) -> Job:
        with self.lock:
            job = self.jobs.get(m["job"])
        if job is None:
            raise OSError(errno.ESRCH, f"no job {m['job']}")
        return job

    def op_terminate(self, m: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.stop_job(self._job(m), float(m.get("grace", 2)))}

    def op_end(self, m: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self.jobs.get(m["job"])
        if job is not None:
            self.end_jobs([job])
        return {}

    def op_kill_all(self, m: dict[str, Any]) -> dict[str, Any]:
        self.kill_all()
        return {}

    def kill_all(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
            tokens = set(self.tokens)
        self.end_jobs(jobs)
        kill_leftovers(tokens)  # of jobs ended before, whose leftovers may still run
