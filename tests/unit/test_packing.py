"""Packing, arrays and batching logic without a cluster: how submissions are grouped, split,
and how each packed case's outcome is read back. The pack runner (packrun.py) runs for real
here, as a subprocess on this machine, with real job scripts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from assay.schedulers import batching, packrun
from assay.schedulers.arrays import Arrays
from assay.schedulers.base import STATUS_SUFFIX, JobOutcome, JobResources, JobSpec, JobState
from assay.schedulers.batching import Collector, Waiting
from assay.schedulers.packing import Packer, packable
from assay.schedulers.packing import member_outcome as read_member
from assay.transports.local import LocalTransport

PACKRUN = Path(packrun.__file__)


def spec(
    tmp: Path, name: str, limit: float | None = 10.0, **resources: int | bool | None
) -> JobSpec:
    return JobSpec(
        name=name,
        script=tmp / f"{name}.sh",
        workdir=tmp,
        stdout=tmp / f"{name}.out",
        stderr=tmp / f"{name}.err",
        time_limit=limit,
        resources=JobResources(**resources),  # type: ignore[arg-type]
    )


_LOOP = asyncio.new_event_loop()  # futures for dispatch tests, which never await them


def waiting(s: JobSpec) -> Waiting:
    return Waiting(s, _LOOP.create_future())


def make_packer(tmp: Path, **kw: float | int) -> Packer:
    async def never(spec: JobSpec, members: list[JobSpec]) -> JobOutcome:
        raise AssertionError("not submitted in these tests")

    options: dict[str, float | int] = {"pack_time": 60.0, "cpus_per_node": 4, "nodes": 2}
    options.update(kw)
    return Packer(
        LocalTransport(),
        tmp,
        never,
        pack_time=float(options["pack_time"]),
        cpus_per_node=int(options["cpus_per_node"]),
        nodes=int(options["nodes"]),
        python=sys.executable,
        grace=1.0,
        header=lambda s: [f"#SBATCH --job-name={s.name}"],
    )


# --- which cases are packed --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "resources", "enabled", "expected"),
    [
        (10.0, {}, True, True),
        (60.0, {}, True, True),  # at the limit: still short
        (61.0, {}, True, False),
        (None, {}, True, False),  # no declared limit: cannot be planned into a pack
        (10.0, {"nodes": 2}, True, False),
        (10.0, {"exclusive": True}, True, False),
        (10.0, {}, False, False),  # --no-pack
    ],
)
def test_packable_only_short_single_node_shareable_cases(
    tmp_path: Path, limit: float | None, resources: dict[str, object], enabled: bool, expected: bool
) -> None:
    assert packable(spec(tmp_path, "c", limit, **resources), 60.0, enabled) is expected  # type: ignore[arg-type]


# --- how a batch is split into packs -----------------------------------------------------------


def test_cases_with_different_resources_never_share_a_pack(tmp_path: Path) -> None:
    packer = make_packer(tmp_path)
    batch = [waiting(spec(tmp_path, f"a{i}", tasks=1)) for i in range(3)]
    batch += [waiting(spec(tmp_path, f"b{i}", tasks=2)) for i in range(3)]
    batch += [waiting(spec(tmp_path, f"g{i}", gpus_per_node=1)) for i in range(2)]
    packs = packer.dispatch(batch)
    for pack in packs:
        assert len({(m.spec.resources.tasks, m.spec.resources.gpus_per_node) for m in pack}) == 1
    assert sorted(m.spec.name for p in packs for m in p) == sorted(m.spec.name for m in batch)


def test_a_batch_longer_than_pack_time_is_split_so_each_pack_fits(tmp_path: Path) -> None:
    # 40 cases of 30 s on 4 slots: 300 s of work; with packs of 60 s that is 5 packs.
    packer = make_packer(tmp_path, pack_time=60.0, cpus_per_node=4, nodes=1)
    batch = [waiting(spec(tmp_path, f"c{i}", 30.0)) for i in range(40)]
    packs = packer.dispatch(batch)
    assert len(packs) == 5
    for pack in packs:
        assert sum(m.spec.time_limit or 0 for m in pack) / 4 <= 60.0
    assert sorted(len(p) for p in packs) == [8] * 5


def test_many_short_cases_are_spread_over_the_partitions_nodes(tmp_path: Path) -> None:
    packer = make_packer(tmp_path, pack_time=3600.0, cpus_per_node=4, nodes=2)
    packs = packer.dispatch([waiting(spec(tmp_path, f"c{i}", 1.0)) for i in range(20)])
    assert len(packs) == 2  # one pack per node, not one pack that leaves a node idle
    few = packer.dispatch([waiting(spec(tmp_path, f"d{i}", 1.0)) for i in range(3)])
    assert len(few) == 1  # too few cases to be worth a second job


# --- reading a packed case's outcome -----------------------------------------------------------


def _status(s: JobSpec, **fields: object) -> None:
    Path(str(s.stdout) + STATUS_SUFFIX).write_text(json.dumps(fields))


PACK_DONE = JobOutcome(JobState.COMPLETED, 0, job_id="77")


def member_outcome(s: JobSpec, pack: JobOutcome) -> JobOutcome:
    """The packed case's outcome as the scheduler reads it (its status file on this host)."""
    return asyncio.run(read_member(LocalTransport(), s, pack))


def test_member_outcome_reads_the_cases_own_status(tmp_path: Path) -> None:
    ok, bad, sig, slow = (spec(tmp_path, n) for n in ("ok", "bad", "sig", "slow"))
    _status(ok, state="COMPLETED", exit_code=0, started=1.0, ended=3.5)
    _status(bad, state="FAILED", exit_code=3, started=1.0, ended=2.0)
    _status(sig, state="FAILED", signal=9, started=1.0, ended=2.0)
    _status(slow, state="TIMEOUT", started=1.0, ended=2.0)
    done = member_outcome(ok, PACK_DONE)
    assert (done.state, done.exit_code, done.elapsed, done.job_id) == (
        JobState.COMPLETED,
        0,
        2.5,
        "77+ok",
    )
    assert member_outcome(bad, PACK_DONE).state == JobState.FAILED
    assert member_outcome(bad, PACK_DONE).exit_code == 3
    killed = member_outcome(sig, PACK_DONE)
    assert (killed.state, killed.signal) == (JobState.FAILED, 9)
    assert member_outcome(slow, PACK_DONE).state == JobState.TIMEOUT


def test_member_outcome_without_a_status_says_what_happened_to_the_pack(tmp_path: Path) -> None:
    s = spec(tmp_path, "never")
    timed_out = member_outcome(s, JobOutcome(JobState.TIMEOUT, job_id="5"))
    assert timed_out.state == JobState.CANCELLED
    assert "ran out of time" in (timed_out.reason or "")
    # A pack that completed without writing this case's status lost it: run it again.
    lost = member_outcome(s, PACK_DONE)
    assert lost.state == JobState.NODE_FAIL
    node = member_outcome(s, JobOutcome(JobState.NODE_FAIL, reason="node c2 died", job_id="5"))
    assert (node.state, node.reason) == (JobState.NODE_FAIL, "node c2 died")
    Path(str(s.stdout) + STATUS_SUFFIX).write_text("{torn")
    assert member_outcome(s, PACK_DONE).state == JobState.NODE_FAIL


def test_a_case_cancelled_because_its_node_failed_is_a_node_failure(tmp_path: Path) -> None:
    s = spec(tmp_path, "c")
    _status(s, state="CANCELLED", reason="the pack was stopped")
    assert member_outcome(s, JobOutcome(JobState.NODE_FAIL, reason="c1")).state == (
        JobState.NODE_FAIL
    )
    cancelled = member_outcome(s, JobOutcome(JobState.CANCELLED))
    assert (cancelled.state, cancelled.reason) == (JobState.CANCELLED, "the pack was stopped")


# --- the pack runner, for real ---------------------------------------------------------------


def _case(tmp: Path, name: str, body: str, limit: float | None = 20.0) -> dict[str, object]:
    script = tmp / f"{name}.sh"
    script.write_text(f"#!/bin/bash\n{body}\n")
    return {
        "id": name,
        "script": str(script),
        "workdir": str(tmp),
        "stdout": str(tmp / f"{name}.out"),
        "stderr": str(tmp / f"{name}.err"),
        "status": str(tmp / f"{name}.out{STATUS_SUFFIX}"),
        "time_limit": limit,
    }


def _packrun(tmp: Path, cases: list[dict[str, object]], slots: int = 2) -> dict[str, dict]:  # type: ignore[type-arg]
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"slots": slots, "grace": 0.5, "cases": cases}))
    subprocess.run(
        [sys.executable, "-I", str(PACKRUN), str(manifest)], check=True, timeout=60, cwd=tmp
    )
    return {str(c["id"]): json.loads(Path(str(c["status"])).read_text()) for c in cases}


def test_packrun_runs_every_case_and_records_how_each_ended(tmp_path: Path) -> None:
    cases = [
        _case(tmp_path, "ok", "echo hello"),
        _case(tmp_path, "fails", "echo oops >&2; exit 4"),
        _case(tmp_path, "killed", "kill -9 $$"),
        _case(tmp_path, "slow", "sleep 30", limit=0.5),
    ]
    status = _packrun(tmp_path, cases)
    assert status["ok"]["state"] == "COMPLETED"
    assert status["ok"]["exit_code"] == 0
    assert (tmp_path / "ok.out").read_text() == "hello\n"
    assert (status["fails"]["state"], status["fails"]["exit_code"]) == ("FAILED", 4)
    assert (tmp_path / "fails.err").read_text() == "oops\n"
    assert (status["killed"]["state"], status["killed"]["signal"]) == ("FAILED", 9)
    assert status["slow"]["state"] == "TIMEOUT"
    assert all(s["ended"] >= s["started"] for s in status.values())


def test_packrun_runs_no_more_cases_at_once_than_its_slots(tmp_path: Path) -> None:
    log = tmp_path / "log"
    body = f'echo "start $(date +%s%N)" >> {log}; sleep 0.3; echo "end $(date +%s%N)" >> {log}'
    cases = [_case(tmp_path, f"c{i}", body) for i in range(6)]
    _packrun(tmp_path, cases, slots=2)
    running = peak = 0
    events = sorted(
        (int(t), kind) for kind, t in (line.split() for line in log.read_text().splitlines())
    )
    for _, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2


def test_packrun_sigterm_cancels_running_and_waiting_cases(tmp_path: Path) -> None:
    cases = [_case(tmp_path, f"c{i}", "sleep 30") for i in range(3)]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"slots": 1, "grace": 0.5, "cases": cases}))
    proc = subprocess.Popen([sys.executable, "-I", str(PACKRUN), str(manifest)], cwd=tmp_path)
    deadline = time.monotonic() + 20
    while not (tmp_path / "c0.out").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    states = [json.loads(Path(str(c["status"])).read_text())["state"] for c in cases]
    assert states == ["CANCELLED"] * 3


def test_packrun_uses_only_the_standard_library(tmp_path: Path) -> None:
    # -I: no site-packages, no user site, so an import of assay (or anything else installed)
    # fails; the manifest with no cases makes it start and stop at once.
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"slots": 1, "cases": []}))
    env = {"PATH": os.environ["PATH"]}
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(PACKRUN), str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# --- collecting submissions into batches -----------------------------------------------------


class Recording(Collector):
    """A collector that records the batches it is handed and completes each member."""

    def __init__(self) -> None:
        super().__init__("recording")
        self.batches: list[list[str]] = []

    def dispatch(self, batch: list[Waiting]) -> list[list[Waiting]]:
        self.batches.append([m.spec.name for m in batch])
        return [batch]

    async def submit(self, group: list[Waiting]) -> None:
        for m in group:
            m.future.set_result(JobOutcome(JobState.COMPLETED, 0, job_id=m.spec.name))


def test_submissions_arriving_together_form_one_batch(tmp_path: Path) -> None:
    async def main() -> list[list[str]]:
        collector = Recording()
        outcomes = await asyncio.gather(
            *(collector.run(spec(tmp_path, f"c{i}")) for i in range(10))
        )
        assert [o.job_id for o in outcomes] == [f"c{i}" for i in range(10)]
        return collector.batches

    assert asyncio.run(main()) == [[f"c{i}" for i in range(10)]]


def test_a_submission_after_the_quiet_window_starts_a_new_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "WINDOW", 0.01)

    async def main() -> list[list[str]]:
        collector = Recording()
        first = asyncio.create_task(collector.run(spec(tmp_path, "early")))
        await first
        await collector.run(spec(tmp_path, "late"))
        return collector.batches

    assert asyncio.run(main()) == [["early"], ["late"]]


def test_a_failed_submission_reaches_every_member(tmp_path: Path) -> None:
    class Refusing(Recording):
        async def submit(self, group: list[Waiting]) -> None:
            batching.fail_all(group, RuntimeError("sbatch refused"))

    async def main() -> list[BaseException | JobOutcome]:
        collector = Refusing()
        return await asyncio.gather(
            *(collector.run(spec(tmp_path, f"c{i}")) for i in range(3)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert [str(r) for r in results] == ["sbatch refused"] * 3


# --- arrays ----------------------------------------------------------------------------------


def _arrays(
    tmp: Path,
    single: Callable[[JobSpec], Awaitable[JobOutcome]],
    array: Callable[[JobSpec, list[Waiting]], Awaitable[None]],
    max_parallel: int = 2,
) -> Arrays:
    return Arrays(
        LocalTransport(),
        tmp,
        single,
        array,
        lambda s: [f"#SBATCH --job-name={s.name}"],
        max_parallel,
    )


def test_alike_cases_become_one_array_and_a_lone_case_its_own_job(tmp_path: Path) -> None:
    singles: list[str] = []
    arrays: list[tuple[str, list[str]]] = []

    async def single(s: JobSpec) -> JobOutcome:
        singles.append(s.name)
        return JobOutcome(JobState.COMPLETED, 0)

    async def array(s: JobSpec, group: list[Waiting]) -> None:
        arrays.append((s.script.read_text(), [m.spec.name for m in group]))
        for m in group:
            m.future.set_result(JobOutcome(JobState.COMPLETED, 0))

    async def main() -> None:
        collector = _arrays(tmp_path, single, array)
        specs = [spec(tmp_path, f"a{i}", 30.0, tasks=2) for i in range(3)]
        specs.append(spec(tmp_path, "lone", 30.0, tasks=4))
        specs.append(spec(tmp_path, "other-limit", 90.0, tasks=2))
        await asyncio.gather(*(collector.run(s) for s in specs))

    asyncio.run(main())
    assert sorted(singles) == ["lone", "other-limit"]
    assert len(arrays) == 1
    script, members = arrays[0]
    assert members == ["a0", "a1", "a2"]
    assert "#SBATCH --array=0-2%2" in script  # throttled to max_parallel
    lines = script.splitlines()
    first_command = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    assert all(not line.startswith("#SBATCH") for line in lines[first_command:])
    for index, name in enumerate(members):
        assert f"{index}) exec /bin/bash {tmp_path / name}.sh" in script
