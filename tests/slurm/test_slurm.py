"""Against the real Slurm cluster: results, time limits, cancellation, node failure, multi-node
jobs, packing, pending limits and flaky scheduler commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_assay, run_on_terminal
from tests.slurm.conftest import MARKS, squeue_ids, write_config

pytestmark = MARKS

BASICS = """
import assay

class Passes(assay.Test):
    systems = ["*:debug"]
    command = "echo node $SLURMD_NODENAME"

    def sanity(self, out):
        out.expect(r"node c[12]")

class ExitsThree(assay.Test):
    systems = ["*:debug"]
    command = "bash -c 'exit 3'"

class WrongOutput(assay.Test):
    systems = ["*:debug"]
    command = "echo 41"

    def sanity(self, out):
        out.expect(r"^42$")
"""


def _basics(slurm_dir: Path, *args: str) -> None:
    (slurm_dir / "test_basics.py").write_text(BASICS)
    result = run_assay("run", "test_basics.py", "--plain", *args, cwd=slurm_dir)
    assert result.code == 1, result
    assert result.case("Passes")["status"] == "passed"
    assert result.case("Passes")["job_id"]
    exits = result.case("ExitsThree")
    assert exits["failure"]["reason"] == "exit code 3 (expected exit code 0)"
    assert exits["exit_code"] == 3
    wrong = result.case("WrongOutput")
    assert wrong["failure"]["stage"] == "sanity"
    assert "pattern '^42$' not found in stdout" in wrong["failure"]["reason"]
    # Where it ran, as ReFrame's "Node list" and "Job type: batch job (id=...)" say it.
    assert wrong["hosts"] in ("c1", "c2"), wrong
    assert f"  job:       {wrong['job_id']} on {wrong['hosts']}\n" in result.stdout, result


def test_pass_nonzero_exit_and_sanity_failure_as_own_jobs(slurm_dir):
    _basics(slurm_dir, "--no-pack")


def test_pass_nonzero_exit_and_sanity_failure_packed(slurm_dir):
    (slurm_dir / "t.py").write_text("")
    text = BASICS.replace('systems = ["*:debug"]', 'systems = ["*:debug"]\n    time_limit = "1m"')
    (slurm_dir / "test_basics.py").write_text(text)
    result = run_assay("run", "test_basics.py", "--plain", cwd=slurm_dir)
    assert result.code == 1, result
    jobs = {c["name"]: c["job_id"] for c in result.report["cases"]}
    assert len({j.split("+")[0] for j in jobs.values()}) == 1  # one pack job for all three
    assert result.case("ExitsThree")["failure"]["reason"] == "exit code 3 (expected exit code 0)"
    wrong = result.case("WrongOutput")
    assert wrong["hosts"] in ("c1", "c2"), wrong  # the pack's node
    assert f"  job:       {wrong['job_id']} on {wrong['hosts']}\n" in result.stdout, result


def test_a_pack_of_50_short_cases_with_3_failing(slurm_dir):
    (slurm_dir / "test_pack.py").write_text(
        "import assay\n\nclass Short(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "1m"\n    i = assay.parameter(range(50))\n'
        '    command = "echo case {i}; test {i} -ne 7 -a {i} -ne 21 -a {i} -ne 33"\n'
    )
    result = run_assay("run", "test_pack.py", "--plain", cwd=slurm_dir)
    assert result.code == 1, result
    failed = sorted(c["params"]["i"] for c in result.report["cases"] if c["status"] == "failed")
    assert failed == ["21", "33", "7"]
    assert result.report["summary"]["passed"] == 47
    packs = {c["job_id"].split("+")[0] for c in result.report["cases"]}
    assert 1 <= len(packs) <= 4  # packed, not 50 jobs
    case7 = result.case("Short[i=7]")
    assert case7["exit_code"] == 1
    assert (Path(case7["output_dir"]) / "assay-run.out").read_text() == "case 7\n"


def test_time_limit_of_a_packed_case_is_enforced_in_the_pack(slurm_dir):
    (slurm_dir / "test_slow.py").write_text(
        "import assay\n\nclass Slow(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "2s"\n    command = "sleep 60"\n\n'
        "class Quick(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "1m"\n    command = "true"\n'
    )
    result = run_assay("run", "test_slow.py", "--plain", cwd=slurm_dir)
    slow = result.case("Slow")
    assert slow["failure"] == {"stage": "run", "reason": "time limit 2s exceeded", "details": None}
    assert result.case("Quick")["status"] == "passed"


def test_slurm_time_limit_of_an_own_job(slurm_dir):
    (slurm_dir / "test_slow.py").write_text(
        "import assay\n\nclass Slow(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "10s"\n    command = "sleep 300"\n'
    )
    result = run_assay("run", "test_slow.py", "--plain", "--no-pack", cwd=slurm_dir, timeout=240)
    slow = result.case("Slow")
    assert slow["failure"]["stage"] == "run"
    # Slurm ran it for a minute, not 10 s: before, the reason named only the 10 s.
    assert slow["failure"]["reason"] == (
        "time limit 10s exceeded (Slurm applied 1m: it counts time limits in whole minutes)"
    )


def test_two_node_job_runs_on_both_nodes(slurm_dir):
    (slurm_dir / "test_nodes.py").write_text(
        "import assay\n\nclass TwoNodes(assay.Test):\n"
        '    systems = ["*:debug"]\n    nodes = 2\n    tasks = 2\n    tasks_per_node = 1\n'
        "    command = \"bash -c 'echo on $SLURMD_NODENAME'\"\n\n"
        "    def sanity(self, out):\n"
        "        nodes = sorted(out.extract_all(r'on (c\\d)'))\n"
        "        assert nodes == ['c1', 'c2'], nodes\n"
    )
    result = run_assay("run", "test_nodes.py", "--plain", cwd=slurm_dir)
    assert result.code == 0, result


def _start(slurm_dir: Path, test: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assay", "run", test, "--plain", *args],
        cwd=slurm_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "ASSAY_STORE": str(slurm_dir / ".store")},
    )


def _wait_running(count: int, before: set[str], timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True
        ).stdout.split()
        ours = [j for j in out if j not in before]
        if len(ours) >= count:
            return ours
        time.sleep(0.2)
    raise AssertionError(f"{count} job(s) did not start running within {timeout}s")


def test_sigterm_cancels_every_job_it_submitted(slurm_dir):
    (slurm_dir / "test_sleep.py").write_text(
        "import assay\n\nclass Sleeps(assay.Test):\n"
        '    systems = ["*:debug"]\n    i = assay.parameter(range(4))\n'
        '    command = "sleep 300"\n'
    )
    before = squeue_ids()
    proc = _start(slurm_dir, "test_sleep.py", "--no-pack")
    jobs = _wait_running(4, before)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    deadline = time.monotonic() + 30
    while set(jobs) & squeue_ids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(jobs) & squeue_ids()
    report = json.loads((slurm_dir / ".assay/latest/report.json").read_text())
    assert {c["status"] for c in report["cases"]} == {"aborted"}


def test_a_node_taken_down_is_a_node_failure_and_the_retry_passes(slurm_dir):
    """Each wait is on something observable, never on time: the run's own job (from its
    journal: another job that starts meanwhile is not taken for it), its script running
    on the node (a node taken down during the launch is another story), and at the end
    the node running a job again."""
    (slurm_dir / "test_long.py").write_text(
        "import assay\n\nclass Long(assay.Test):\n"
        '    systems = ["*:debug"]\n    command = "echo started; sleep 8; echo done"\n\n'
        "    def sanity(self, out):\n        out.expect('done')\n"
    )
    proc = _start(slurm_dir, "test_long.py", "--no-pack", "--max-retries", "1")
    node = None
    try:
        job = _until(lambda: _journal_job(slurm_dir), "the run to submit its job")
        _until(lambda: _script_started(slurm_dir), f"job {job}'s script to start")
        node = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%N"], capture_output=True, text=True
        ).stdout.strip()
        subprocess.run(
            ["scontrol", "update", f"nodename={node}", "state=down", "reason=assay-test"],
            check=True,
        )
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if node:
            _bring_back(node)
    assert proc.returncode == 0, out
    report = json.loads((slurm_dir / ".assay/latest/report.json").read_text())
    (case,) = report["cases"]
    assert case["attempts"] == 2
    (earlier,) = case["earlier_failures"]
    assert earlier["stage"] == "run"
    assert earlier["reason"] == f"job ended NODE_FAIL: node failure ({node})"


def _until(probe, what: str, timeout: float = 60):
    """Poll ``probe`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout}s for {what}")


def _journal_job(slurm_dir: Path) -> str | None:
    """The id of the first job the run's journal records."""
    for journal in (slurm_dir / ".assay" / "runs").glob("*/journal.jsonl"):
        for line in journal.read_text().splitlines():
            event = json.loads(line)
            if event["t"] == "job":
                return str(event["job"])
    return None


def _script_started(slurm_dir: Path) -> bool:
    outputs = (slurm_dir / ".assay" / "runs").glob("*/stage/Long-*/assay-run.out")
    return any(out.read_text().startswith("started") for out in outputs)


def _bring_back(node: str, timeout: float = 180) -> None:
    """The other Slurm tests need the node: resume it if it is still down, then wait until
    it runs a job again. (Its state alone can mislead: after a node was set down the
    controller may hold it completing until its slurmd next reports, up to a ping period,
    SlurmdTimeout / 3, later; a job pinned to it completes only once it is usable.)"""
    subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], capture_output=True)
    probe = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-w",
            node,
            "-p",
            "debug",
            "-t",
            "1",
            "-o",
            "/dev/null",
            "--wrap",
            "true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def probe_done() -> bool:
        state = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", probe, "-o", "%T"], capture_output=True, text=True
        ).stdout.strip()
        if state and state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "COMPLETED"):
            raise AssertionError(f"the probe job on {node} ended {state}")
        return state == "COMPLETED"

    try:
        _until(probe_done, f"node {node} to run a job again", timeout)
    except AssertionError:
        subprocess.run(["scancel", probe], capture_output=True)
        shown = subprocess.run(["scontrol", "show", "node", node], capture_output=True, text=True)
        raise AssertionError(f"node {node} is not back:\n{shown.stdout}") from None


def test_max_pending_cancels_a_job_that_waits_too_long(slurm_dir):
    write_config(slurm_dir, 'options = ["--begin=now+3600"], max_pending = "3s"')
    (slurm_dir / "test_wait.py").write_text(
        "import assay\n\nclass Waits(assay.Test):\n"
        '    systems = ["*:debug"]\n    command = "true"\n'
    )
    result = run_assay("run", "test_wait.py", "--plain", "--no-pack", cwd=slurm_dir)
    reason = result.case("Waits")["failure"]["reason"]
    assert reason.startswith("job ended CANCELLED: pending for more than 3s (BeginTime)")
    job = result.case("Waits")["job_id"]
    assert job not in squeue_ids()  # scancelled before the run ended, not left queued
    assert "[ JOB ]" in result.stdout and "PENDING (BeginTime)" in result.stdout


def test_flaky_scheduler_commands_do_not_abort_the_run(slurm_dir, tmp_path):
    """A fault a real cluster cannot show on demand: squeue failing, injected by a wrapper
    earlier on PATH that fails its first three calls and then runs the real squeue."""
    bin_dir = tmp_path / "flaky-bin"
    bin_dir.mkdir()
    real = subprocess.run(["which", "squeue"], capture_output=True, text=True).stdout.strip()
    counter = tmp_path / "calls"
    wrapper = bin_dir / "squeue"
    wrapper.write_text(
        "#!/bin/bash\n"
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n + 1)) > {counter}\n"
        'if [ "$n" -lt 3 ]; then echo "squeue: error: slurm_receive_msg: Socket timed out" >&2;'
        " exit 1; fi\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    (slurm_dir / "test_ok.py").write_text(
        "import assay\n\nclass Ok(assay.Test):\n"
        '    systems = ["*:debug"]\n    command = "echo fine"\n'
    )
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = run_assay("run", "test_ok.py", "--plain", "--no-pack", cwd=slurm_dir, env=env)
    assert result.code == 0, result
    assert int(counter.read_text()) > 3  # it failed three times, then answered


def test_resume_after_the_runner_was_killed_follows_its_jobs(slurm_dir):
    (slurm_dir / "test_resume.py").write_text(
        "import assay\n\nclass Quick(assay.Test):\n"
        '    systems = ["*:debug"]\n    command = "echo quick"\n\n'
        "class Slow(assay.Test):\n"
        '    systems = ["*:debug"]\n    i = assay.parameter(range(3))\n'
        '    command = "sleep 6; echo slow {i}"\n\n'
        "    def sanity(self, out):\n        out.expect(rf'slow {self.i}')\n\n"
        "class PackedSlow(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "1m"\n    i = assay.parameter(range(3))\n'
        '    command = "sleep 6; echo packed {i}"\n'
    )
    before = squeue_ids()
    proc = _start(slurm_dir, "test_resume.py")
    _wait_running(2, before)  # the Slow jobs and a pack are running
    deadline = time.monotonic() + 30
    journal = None
    while time.monotonic() < deadline:  # Quick has finished and been recorded
        sessions = list((slurm_dir / ".assay" / "runs").glob("*/journal.jsonl"))
        if sessions and '"result"' in sessions[0].read_text():
            journal = sessions[0]
            break
        time.sleep(0.1)
    assert journal is not None
    proc.send_signal(signal.SIGKILL)  # the runner dies; its jobs go on
    proc.wait(timeout=10)
    submitted = {}
    for line in journal.read_text().splitlines():
        event = json.loads(line)
        if event["t"] == "job":
            submitted[event["case"]] = event["job"]
    assert len(submitted) == 7  # Quick, 3 Slow, 3 packed
    resumed = run_assay("run", "--resume", "--plain", cwd=slurm_dir, timeout=120)
    assert resumed.code == 0, resumed
    report = resumed.report
    for case in report["cases"]:  # every case ended in the job the first runner submitted
        assert case["job_id"].split("+")[0] == submitted[case["id"]], case["name"]
    assert report["summary"]["passed"] == 7
    assert report["session"]["directory"] == str(journal.parent)
    assert (Path(resumed.case("Slow[i=2]")["output_dir"]) / "assay-run.out").read_text() == (
        "slow 2\n"
    )


def test_the_byo_example_runs_unchanged_on_slurm_comparing_inside_the_jobs(slurm_dir):
    import shutil

    from tests.conftest import ROOT

    example = slurm_dir / "byo"
    shutil.copytree(ROOT / "examples" / "byo-solver", example)
    result = run_assay(
        "run", "byo", "-p", "debug", "--keep-stage", "--plain", cwd=slurm_dir, timeout=300
    )
    assert result.code == 0, result
    cases = result.report["cases"]
    assert {c["partition"] for c in cases} == {"debug"}
    assert sum(c["name"].startswith("solver[case=") for c in cases) == 21
    case = result.case("solver[case=cg-n50-a1]")
    assert case["job_id"]  # it ran as (part of) a Slurm job
    stage = Path(case["stage_dir"])
    # The job compared its outputs where they were and wrote the verdict; assay only read
    # it (a comparison made by assay itself writes no verdict file).
    verdict = json.loads((stage / "assay-verdict.json").read_text())
    assert verdict["ok"] is True and {f["file"] for f in verdict["files"]} == {
        "result.csv",
        "log.txt",
    }
    assert case["comparisons"][0]["ok"] is True
    (table,) = result.report["scaling"]
    assert table["parameter"] == "cpus_per_task" and len(table["rows"]) == 2


def test_builds_run_here_or_as_jobs_as_the_partition_says(slurm_dir):
    (slurm_dir / "test_build.py").write_text(
        "import assay\n\nclass Built(assay.Test):\n"
        '    systems = ["*:debug"]\n'
        '    build = "echo built in job ${SLURM_JOB_ID:-none} > where.txt"\n'
        '    command = "cat where.txt"\n'
    )
    local = run_assay("run", "test_build.py", "--plain", cwd=slurm_dir)
    assert local.code == 0, local
    out = Path(local.case("Built")["output_dir"]) / "assay-run.out"
    assert out.read_text() == "built in job none\n"  # built on this machine
    write_config(slurm_dir, 'build = "job"')
    job = run_assay("run", "test_build.py", "--plain", cwd=slurm_dir)
    assert job.code == 0, job
    text = (Path(job.case("Built")["output_dir"]) / "assay-run.out").read_text()
    assert text.startswith("built in job ") and text.split()[-1].isdigit()
    broken = slurm_dir / "test_broken_build.py"
    broken.write_text(
        "import assay\n\nclass Broken(assay.Test):\n"
        '    systems = ["*:debug"]\n    build = "exit 4"\n    command = "true"\n'
    )
    failed = run_assay("run", "test_broken_build.py", "--plain", cwd=slurm_dir)
    assert failed.case("Broken")["failure"]["reason"] == "build failed: exit code 4"


def test_alike_cases_share_an_array_job_and_end_one_by_one(slurm_dir):
    (slurm_dir / "test_arrays.py").write_text(
        "import assay\n\nclass Alike(assay.Test):\n"
        '    systems = ["*:debug"]\n    i = assay.parameter(range(4))\n'
        '    command = "sleep {i}; echo task {i}"\n\n'
        "class Wider(assay.Test):\n"
        '    systems = ["*:debug"]\n    tasks = 2\n    command = "echo wide"\n'
    )
    result = run_assay("run", "test_arrays.py", "--plain", cwd=slurm_dir)
    assert result.code == 0, result
    alike = sorted(
        (c for c in result.report["cases"] if c["test"] == "Alike"), key=lambda c: c["params"]["i"]
    )
    masters = {c["job_id"].split("_")[0] for c in alike}
    assert len(masters) == 1  # one array job
    assert [c["job_id"].split("_")[1] for c in alike] == ["0", "1", "2", "3"]
    assert "_" not in result.case("Wider")["job_id"]  # other resources: a job of its own
    finished = [c["finished"] for c in alike]
    assert finished[0] < finished[3]  # each task was noticed when it ended, not at the end


def test_a_node_count_series_runs_real_multi_node_jobs_and_reports_its_scaling(slurm_dir):
    (slurm_dir / "test_scale.py").write_text(
        "import assay\n\nclass Scales(assay.Test):\n"
        '    systems = ["*:debug"]\n    scaling = "nodes"\n'
        "    nodes = assay.parameter([1, 2])\n    tasks_per_node = 1\n"
        "    command = \"bash -c 'sleep 0.3; echo on $SLURMD_NODENAME of $SLURM_JOB_NUM_NODES'\"\n"
    )
    result = run_assay("run", "test_scale.py", "--plain", cwd=slurm_dir)
    assert result.code == 0, result
    for size in (1, 2):
        case = result.case(f"Scales[nodes={size}]")
        lines = (Path(case["output_dir"]) / "assay-run.out").read_text().splitlines()
        assert len(lines) == size and all(line.endswith(f"of {size}") for line in lines)
        assert len({line.split()[1] for line in lines}) == size  # one task on each node
        # The run time is measured on the node; waiting for the job is counted apart.
        assert case["timings"]["run"] >= 0.3 and "queued" in case["timings"]
    (table,) = result.report["scaling"]
    assert table["parameter"] == "nodes" and table["partition"] == "debug"
    assert [row["size"] for row in table["rows"]] == [1, 2]
    assert table["rows"][0]["speedup"] == 1.0 and table["rows"][1]["efficiency"] is not None
    assert "scaling of Scales @ci:debug+builtin" in result.stdout


def test_the_live_display_shows_each_partitions_queue(slurm_dir):
    write_config(slurm_dir, 'options = ["--begin=now+3"]')
    (slurm_dir / "test_queue.py").write_text(
        "import assay\n\nclass Queued(assay.Test):\n"
        '    systems = ["*:debug"]\n    i = assay.parameter(range(3))\n'
        '    command = "sleep 3"\n'  # longer than poll_max: the poller sees them running
    )
    code, screen = run_on_terminal("run", "test_queue.py", "--no-pack", cwd=slurm_dir)
    assert code == 0, screen
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)  # the text, without its styles
    assert "ci:debug: pending 3 (BeginTime)  running 0  done 0" in screen
    # Each running case shows its stage and its job's state, pending and why, then running.
    assert re.search(r"Queued\[i=0\] @ci:debug\+builtin +run: PENDING \(BeginTime\)", screen)
    assert re.search(r"Queued\[i=0\] @ci:debug\+builtin +run: RUNNING", screen)
    assert "running 3  done 0" in screen  # then all three ran at once
    assert "3 passed, 0 failed, 0 skipped" in screen


def test_the_live_display_shows_the_state_of_a_packed_cases_pack(slurm_dir):
    write_config(slurm_dir, 'options = ["--begin=now+3"]')
    (slurm_dir / "test_packed.py").write_text(
        "import assay\n\nclass Packed(assay.Test):\n"
        '    systems = ["*:debug"]\n    i = assay.parameter(range(2))\n'
        '    time_limit = "1m"\n    command = "sleep 3"\n'
    )
    code, screen = run_on_terminal("run", "test_packed.py", cwd=slurm_dir)
    assert code == 0, screen
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    for i in (0, 1):  # both members show their pack's state
        assert re.search(rf"Packed\[i={i}\] @ci:debug\+builtin +run: PENDING \(BeginTime\)", screen)
        assert re.search(rf"Packed\[i={i}\] @ci:debug\+builtin +run: RUNNING", screen)


def test_a_job_sbatch_refuses_fails_its_case_naming_the_settings(slurm_dir):
    write_config(slurm_dir, 'options = ["--partition=nope"]')
    (slurm_dir / "test_ok.py").write_text(
        "import assay\n\nclass Ok(assay.Test):\n"
        '    systems = ["*:debug"]\n    i = assay.parameter([1, 2])\n    command = "true"\n'
    )
    result = run_assay("run", "test_ok.py", "--plain", "--no-pack", cwd=slurm_dir)
    assert result.code == 1, result
    for case in result.report["cases"]:  # each case says why; neither stops the other
        assert case["failure"]["reason"] == (
            "sbatch refused the job: sbatch: error: invalid partition specified: nope "
            "(the partition's settings are [systems.ci.partitions.debug.slurm] in the config)"
        )
    assert "Traceback" not in result.stdout + result.stderr


def test_packed_cases_with_srun_run_side_by_side(slurm_dir):
    """Each packed case's srun makes a job step; steps must not wait for each other."""
    (slurm_dir / "test_side.py").write_text(
        "import assay\n\nclass Side(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "1m"\n    i = assay.parameter([1, 2])\n'
        "    command = \"bash -c 'echo $EPOCHREALTIME; sleep 2; echo $EPOCHREALTIME'\"\n"
    )
    result = run_assay("run", "test_side.py", "--plain", cwd=slurm_dir)
    assert result.code == 0, result
    assert len({c["job_id"].split("+")[0] for c in result.report["cases"]}) == 1  # one pack
    spans = []
    for case in result.report["cases"]:
        text = (Path(case["output_dir"]) / "assay-run.out").read_text()
        start, end = (float(x.replace(",", ".")) for x in text.split())
        spans.append((start, end))
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # they overlapped


def test_a_hook_that_widens_a_case_gets_the_nodes_and_tasks_it_asked_for(slurm_dir):
    (slurm_dir / "test_grows.py").write_text(
        "import assay\n\nclass Grows(assay.Test):\n"
        '    systems = ["*:debug"]\n'
        "    command = \"bash -c 'echo on $SLURMD_NODENAME'\"\n\n"
        '    @assay.before("run")\n'
        "    def widen(self):\n"
        "        self.nodes = 2\n"
    )
    result = run_assay("run", "test_grows.py", "--plain", cwd=slurm_dir)
    assert result.code == 0, result
    lines = (Path(result.case("Grows")["output_dir"]) / "assay-run.out").read_text().split("\n")
    assert sorted(line for line in lines if line) == ["on c1", "on c2"]


def test_a_comparison_command_of_the_suites_tools_runs_inside_the_job(slurm_dir):
    # `tools` ([suite.compare]): a script of the suite, named {tools} by the command, which
    # the job runs where the outputs are (before: no way to name the suite; unknown key).
    from tests.suite_tools import tools_suite

    suite = tools_suite(slurm_dir)
    (slurm_dir / "assay.toml").rename(suite / "assay.toml")
    result = run_assay(
        "run", "t.suite.toml", "-p", "debug", "--keep-stage", "--plain", cwd=suite, timeout=300
    )
    assert result.code == 1, result
    same, other = result.case("tl[case=same]"), result.case("tl[case=other]")
    assert same["status"] == "passed" and same["job_id"], same
    assert "command exited 1: out.txt: expected 1.0, got 2" in other["failure"]["reason"]
    # The job compared (a comparison made by assay itself writes no verdict file).
    verdict = json.loads((Path(same["stage_dir"]) / "assay-verdict.json").read_text())
    assert verdict["ok"] is True
