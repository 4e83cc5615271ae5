"""How few requests a case costs assay's host agent, against the real sshd: a case's files
go with its job's start, the requests ready together share one write, the passed cases'
stage dirs go in shared requests; a bad file in a folded request, an agent dying with many
requests under way, and an agent of another version."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assay.transports import hostagent_pack, ssh_connect
from assay.transports.base import Staging, TransportError
from assay.transports.ssh import SshTransport
from tests.conftest import CliResult
from tests.remote.conftest import SshServer, processes_below
from tests.remote.test_ssh_transport import run, transport

pytestmark = [pytest.mark.ssh]

Cli = Callable[..., CliResult]


def _remote(report: dict[str, Any]) -> dict[str, Any]:
    (sent,) = report["session"]["remote"].values()
    return dict(sent)


def test_a_case_costs_the_agent_two_requests_and_passed_cases_leave_nothing_there(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    remote_write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    remote_write(
        "test_many.py",
        """
        import assay

        class Many(assay.Test):
            i = assay.parameter(range(30))
            command = "echo hello {i}; echo made {i} > made.txt; test {i} != 7"
            keep_files = ["made.txt"]

            def sanity(self, out):
                out.expect(rf"^hello {self.i}$")
        """,
    )
    result = assay_cli("run", "test_many.py", "-p", "remote", "--plain")
    assert result.code == 1
    statuses = {c["name"]: c["status"] for c in result.report["cases"]}
    assert sorted(statuses.values()) == ["failed"] + ["passed"] * 29
    requests = _remote(result.report)["agent"]["requests"]
    # One request starts a case's job with its files; what it left comes back with the
    # news of its end. The stage dirs of passed cases go, many per request, without a case
    # waiting for it.
    assert requests["spawn"] == 30, requests
    assert 1 <= requests["remove"] <= 29, requests
    assert not {"prepare", "write_files", "snapshot", "write", "collect"} & set(requests)
    passed = next(c for c in result.report["cases"] if c["name"].startswith("Many[i=3]"))
    assert (Path(passed["output_dir"]) / "made.txt").read_text() == "made 3\n"
    # The failed case's stage dir stays on the host (for `assay fetch`), the others do not.
    session = Path(result.report["session"]["directory"]).name
    stage = sshd.home / workdir / "sessions" / session / "stage"
    failed = next(c for c in result.report["cases"] if c["status"] == "failed")
    assert [p.name for p in stage.iterdir()] == [Path(failed["stage_dir"]).name]
    assert failed["remote_dir"].endswith(str(stage / Path(failed["stage_dir"]).name))


def test_requests_ready_together_share_one_write(sshd: SshServer, workdir: str) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            before = (t.traffic.writes, t.traffic.frames)
            results = await asyncio.gather(*(t.run(["echo", str(i)]) for i in range(50)))
            assert [r.stdout for r in results] == [f"{i}\n" for i in range(50)]
            writes, frames = t.traffic.writes - before[0], t.traffic.frames - before[1]
            assert frames == 50 and writes <= 2, (writes, frames)
        finally:
            await t.close()
        assert t.agent_stats["requests"]["run"] == 50

    run(work)


def test_a_bad_file_in_a_folded_request_fails_that_job_alone(sshd: SshServer, workdir: str) -> None:
    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir) / "stage"
            await t.mkdir(base)
            outside = sshd.home / workdir / "escaped"
            # A link the host already has where a file would go: refused, never followed.
            linked = base / "linked"
            await t.mkdir(linked)
            os.symlink(sshd.home / workdir, sshd.home / workdir / "stage" / "linked" / "sub")

            def staging(name: str, rel: str, fresh: bool = True) -> Staging:
                return Staging(
                    base / name, [("job.sh", b"echo ran\n", 0o644), (rel, b"x", 0o644)], fresh
                )

            async def start(name: str, stage: Staging) -> Any:
                d = base / name
                return await t.spawn(
                    ["/bin/bash", str(d / "job.sh")],
                    cwd=d,
                    stdout=d / "o",
                    stderr=d / "e",
                    staging=stage,
                )

            stages = {f"c{i}": staging(f"c{i}", "in.txt") for i in range(6)}
            stages["c3"] = staging("c3", "../escaped")
            stages["linked"] = staging("linked", "sub/escaped", fresh=False)
            started = await asyncio.gather(
                *(start(n, s) for n, s in stages.items()), return_exceptions=True
            )
            outcome = dict(zip(stages, started, strict=True))
            assert isinstance(outcome["c3"], TransportError), outcome["c3"]
            assert "../escaped" in str(outcome["c3"]) and str(base / "c3") in str(outcome["c3"])
            assert isinstance(outcome["linked"], TransportError), outcome["linked"]
            assert "sub/escaped" in str(outcome["linked"])
            for name in ("c0", "c1", "c2", "c4", "c5"):
                proc = outcome[name]
                assert await proc.wait() == 0
                await t.end(proc)
                assert sorted(stages[name].listed or {}) == ["in.txt", "job.sh"]
                assert await t.read_bytes(base / name / "o") == b"ran\n"
            assert not outside.exists()
        finally:
            await t.close()

    run(work)


def _daemon_pid(t: SshTransport) -> int:
    assert t._link is not None
    return t._link.daemon


def test_an_agent_dying_with_many_requests_under_way_fails_those_cases_with_the_reason(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    remote_write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    # Case 0 kills the agent (its job's parent) while the others' jobs run and start.
    remote_write(
        "test_die.py",
        """
        import assay

        class Die(assay.Test):
            i = assay.parameter(range(30))
            command = "if [ {i} = 0 ]; then sleep 1; kill -9 $PPID; fi; sleep 2; echo ok"

            def sanity(self, out):
                out.expect("ok")
        """,
    )
    result = assay_cli("run", "test_die.py", "-p", "remote", "--plain", timeout=300)
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    failures = [c["failure"]["reason"] for c in result.report["cases"] if c["status"] != "passed"]
    assert failures, result
    for reason in failures:
        assert "agent" in reason, reason
    # The cases that started after the agent was made again ran there.
    assert any(c["status"] == "passed" for c in result.report["cases"])
    deadline = time.monotonic() + 20
    while processes_below(sshd, sshd.home / workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_below(sshd, sshd.home / workdir) == []


def test_an_agent_of_another_version_still_serving_the_session_is_refused_clearly(
    sshd: SshServer, workdir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An older assay's agent (no protocol version in its hello) still runs for this session
    # when an upgraded assay resumes it: not spoken to in a protocol it does not know.
    current = ssh_connect.agent_source()
    entries = hostagent_pack.sources()
    daemon = entries["assay_hostagent/daemon.py"]
    entries["assay_hostagent/daemon.py"] = daemon.replace(b'"protocol": PROTOCOL,', b"")
    older = hostagent_pack.build(entries)
    assert older != current
    session = f"old{os.getpid()}{time.time()}"

    async def connect(source: bytes) -> str:
        monkeypatch.setattr(ssh_connect, "agent_source", lambda: source)
        t = SshTransport(sshd.settings(workdir), session=session)
        with pytest.raises(TransportError) as caught:
            await t.connect()
        await t.close()
        return str(caught.value)

    first = run(lambda: connect(older))
    second = run(lambda: connect(current))  # the new connector reaches the old daemon
    for message in (first, second):
        assert "another assay version's (protocol 1, this one speaks 2)" in message, message
    pid = int(second.split("(pid ", 1)[1].split(")", 1)[0])
    assert f"kill {pid}" in second
    os.kill(pid, signal.SIGKILL)


def test_a_prepare_folded_into_a_spawn_is_answered_once_after_a_reconnection(
    sshd: SshServer, workdir: str
) -> None:
    # The job's start and its files are one request: sent again after a cut, it is the
    # same job (started once), and the listing is the first answer's.
    from tests.remote.test_ssh_transport import cut_connection

    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        try:
            base = t.path(workdir) / "once"
            log = sshd.home / workdir / "starts"
            stage = Staging(base, [("job.sh", f"echo x >> {log}; sleep 2\n".encode(), 0o644)], True)
            proc = await t.spawn(
                ["/bin/bash", str(base / "job.sh")],
                cwd=base,
                stdout=base / "o",
                stderr=base / "e",
                staging=stage,
            )
            cut_connection(t)
            assert await proc.wait() == 0
            await t.end(proc)
            assert log.read_text() == "x\n"
            assert sorted(stage.listed or {}) == ["job.sh"]
        finally:
            await t.close()

    run(work)


def test_the_report_counts_what_went_to_the_agent(
    tmp_path: Path, remote_write: Callable[[str, str], Path], assay_cli: Cli
) -> None:
    remote_write(
        "test_one.py",
        """
        import assay

        class One(assay.Test):
            command = "echo one"
        """,
    )
    result = assay_cli("run", "test_one.py", "-p", "remote", "--plain")
    assert result.code == 0, result
    agent = _remote(result.report)["agent"]
    assert agent["requests"]["hello"] == 1 and agent["requests"]["shutdown"] == 1
    assert agent["cpu"] >= 0 and agent["messages"] >= agent["writes"] >= 1
