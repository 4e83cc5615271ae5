"""Against the real Slurm cluster: hostile values in paths, names and settings reach jobs
exactly and run nothing; an sbatch that submits and then reports a failure makes one job,
not two; a step a killed packed case left behind is cancelled while its pack goes on."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.slurm.conftest import CONFIG, MARKS

pytestmark = MARKS

MARK = "PWNED"

HOSTILE = """
import assay

class Hostile(assay.Test):
    systems = ["*:debug"]
    {limit}
    v = assay.parameter([
        "x\\ntouch {mark}\\n#",
        "$(touch {mark})",
        "`touch {mark}`",
        "#SBATCH --wrap='touch {mark}'",
        "a'b\\"c %j %x \\\\ ü",
        "cr\\rlf",
    ])
    env = {{"V": "{{v}}"}}
    command = "bash -c 'printf %s \\"$1\\" > out.txt; printf %s \\"$V\\" > env.txt' _ {{v}}"

    def sanity(self, out):
        assert (out.stage_dir / "out.txt").read_bytes().decode() == self.v
        assert (out.stage_dir / "env.txt").read_bytes().decode() == self.v

Named = type("Na\\nme $(touch {mark})", (Hostile,), {{}})
"""


def _squeue_field(job_id: str, field: str) -> str:
    """One field of a job as squeue prints it alone (``%k``, ``%o``...)."""
    return subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", job_id, "-o", field],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.removesuffix("\n")


@pytest.mark.parametrize(
    ("directory", "how"),
    [
        ("proj %j %x\n$(touch PWNED) 'q\" ü", "packed"),
        ("proj %j %x\n$(touch PWNED) 'q\" ü", "array"),  # alike: one job array
        ("proj back\\slash %a", "built in jobs"),  # under a backslash: a job each
    ],
)
def test_hostile_paths_names_and_values_reach_the_jobs_exactly_and_run_nothing(
    slurm_dir: Path, directory: str, how: str
) -> None:
    project = slurm_dir / directory
    project.mkdir()
    comment = 'it\'s "q" #c \\\\ $(touch PWNED) %j'
    (project / "assay.toml").write_text(
        CONFIG.format(
            extra=', account = "x --wrap=touch PWNED", '
            f'options = [{json.dumps("--comment=" + comment)}], build = "job"'
        )
    )
    extra = {"packed": 'time_limit = "1m"', "array": "", "built in jobs": 'build = "true"'}[how]
    (project / "test_hostile.py").write_text(HOSTILE.format(mark=MARK, limit=extra))
    result = run_assay("run", "test_hostile.py", "--plain", "--keep-stage", cwd=project)
    assert result.code == 0, result
    cases = result.report["cases"]
    assert len(cases) == 12 and {c["status"] for c in cases} == {"passed"}
    ids = [c["job_id"] for c in cases]
    if how == "packed":
        assert len({i.split("+")[0] for i in ids}) <= 2  # packs, not a job each
    elif how == "array":
        assert len({i.split("_")[0] for i in ids}) <= 2 and all("_" in i for i in ids)
    else:
        assert not any("_" in i for i in ids)  # no file name patterns: no arrays
    for job in {i.split("+")[0] for i in ids}:  # the settings reached Slurm as written
        assert _squeue_field(job, "%k") == comment  # one word: nothing smuggled out of it
        assert _squeue_field(job, "%o").endswith(".sh")  # the job script ran, not a --wrap
    assert not list(slurm_dir.rglob(MARK))
    for case in cases:  # run by hand, the kept scripts still run nothing else
        out = Path(case["stage_dir"]) / "out.txt"
        out.unlink()
        script = Path(case["output_dir"]) / "assay-run.sh"
        ran = subprocess.run(["bash", str(script)], capture_output=True, cwd=slurm_dir)
        assert ran.returncode == 0, ran.stderr
        assert out.read_bytes().decode() == case["params"]["v"]
    assert not list(slurm_dir.rglob(MARK))


def _jobs_named(prefix: str) -> list[str]:
    """Every job (any state) whose name starts with ``prefix``: squeue's, and sacct's."""
    queue = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%j"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    accounted = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1hour", "-o", "JobID,JobName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    found = set()
    for line in queue + accounted:
        job_id, _, name = line.partition("|")
        if name.startswith(prefix):
            found.add(job_id)
    return sorted(found)


def test_an_sbatch_that_submits_then_reports_a_timeout_makes_one_job(
    slurm_dir: Path, tmp_path: Path
) -> None:
    """A fault a real cluster cannot show on demand: the controller takes the job but the
    answer is lost. ``sbatch_fault_submits_then_times_out`` (first on PATH) runs the real
    sbatch once, then says it timed out; later calls are the real sbatch."""
    fault = tmp_path / "sbatch_fault_submits_then_times_out"
    fault.mkdir()
    real = subprocess.run(["which", "sbatch"], capture_output=True, text=True).stdout.strip()
    calls = tmp_path / "calls"
    (fault / "sbatch").write_text(
        "#!/bin/bash\n"
        f"n=$(cat {calls} 2>/dev/null || echo 0); echo $((n + 1)) > {calls}\n"
        'if [ "$n" -eq 0 ]; then\n'
        f'  {real} "$@" > /dev/null || exit 3\n'
        '  echo "sbatch: error: Batch job submission failed: Socket timed out on send/recv'
        ' operation" >&2\n'
        "  exit 1\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    (fault / "sbatch").chmod(0o755)
    (slurm_dir / "test_once.py").write_text(
        "import assay\n\nclass Once(assay.Test):\n"
        '    systems = ["*:debug"]\n    command = "echo ran in $SLURM_JOB_ID"\n'
    )
    env = {"PATH": f"{fault}:{os.environ['PATH']}"}
    result = run_assay("run", "test_once.py", "--plain", "--no-pack", cwd=slurm_dir, env=env)
    assert result.code == 0, result
    case = result.case("Once")
    assert int(calls.read_text()) == 1, result  # the job was found, not submitted again
    session = result.report["session"]["id"]
    (job,) = _jobs_named(f"assay-{case['id']}.{session}.")  # this run's jobs of the case
    assert case["job_id"] == job
    out = (Path(case["output_dir"]) / "assay-run.out").read_text()
    assert out == f"ran in {job}\n"


def test_an_sbatch_wrapper_that_prints_a_number_after_the_id_is_not_misread(
    slurm_dir: Path, tmp_path: Path
) -> None:
    """A site's sbatch wrapper (first on PATH) that prints, after the real sbatch's
    ``--parsable`` answer, a line holding only a number (the jobs the user now has queued).
    Two lines that could each be the id: the job is looked up by its name instead."""
    wrapper = tmp_path / "site_sbatch_wrapper"
    wrapper.mkdir()
    real = subprocess.run(["which", "sbatch"], capture_output=True, text=True).stdout.strip()
    calls = tmp_path / "calls"
    (wrapper / "sbatch").write_text(
        "#!/bin/bash\n"
        f"n=$(cat {calls} 2>/dev/null || echo 0); echo $((n + 1)) > {calls}\n"
        f'{real} "$@" || exit\n'
        "echo 1\n"
    )
    (wrapper / "sbatch").chmod(0o755)
    (slurm_dir / "test_once.py").write_text(
        "import assay\n\nclass Once(assay.Test):\n"
        '    systems = ["*:debug"]\n    command = "echo ran in $SLURM_JOB_ID"\n'
    )
    env = {"PATH": f"{wrapper}:{os.environ['PATH']}"}
    result = run_assay("run", "test_once.py", "--plain", "--no-pack", cwd=slurm_dir, env=env)
    # Before, the last line's "1" was taken as the job's id: job 1 (another's, or none)
    # was followed, and the case failed or took job 1's end for its own.
    assert result.code == 0, result
    case = result.case("Once")
    assert int(calls.read_text()) == 1, result  # found by its name, not submitted again
    session = result.report["session"]["id"]
    (job,) = _jobs_named(f"assay-{case['id']}.{session}.")
    assert case["job_id"] == job
    out = (Path(case["output_dir"]) / "assay-run.out").read_text()
    assert out == f"ran in {job}\n"


def test_a_step_left_by_a_packed_case_killed_at_its_time_limit_is_cancelled(
    slurm_dir: Path,
) -> None:
    """``setsid`` takes the srun out of the case's process group, so killing the group
    leaves the srun and its step running; the pack must end the step, and its other case
    goes on (it watches the step from inside the same job)."""
    (slurm_dir / "assay.toml").write_text(
        CONFIG.format(extra="")
        + '\n[systems.ci.partitions.plain]\nscheduler = "slurm"\nmax_jobs = 5\n'
        "resources = { nodes = 1, cpus_per_node = 4 }\n"
        'slurm = { partition = "debug", poll_min = 0.3, poll_max = 2.0 }\n'
    )
    watch = slurm_dir / "watch.sh"
    watch.write_text(
        "until ls ../Slow-*/assay-run.out.status >/dev/null 2>&1; do sleep 0.2; done\n"
        'echo "slow case ended"\n'
        "for i in $(seq 150); do\n"
        '  steps=$(squeue -s -h -j "$SLURM_JOB_ID" -o %j)\n'
        '  case "$steps" in *sleep*) sleep 0.2 ;; *) echo "its step is gone"; exit 0 ;; esac\n'
        "done\n"
        'echo "its step is still there: $steps"\n'
        "exit 1\n"
    )
    (slurm_dir / "test_steps.py").write_text(
        "import assay\n\n"
        "class Slow(assay.Test):\n"
        '    systems = ["*:plain"]\n    time_limit = "3s"\n'
        '    command = "setsid srun --ntasks=1 sleep 300 & sleep 300"\n\n'
        "class Watcher(assay.Test):\n"
        '    systems = ["*:plain"]\n    time_limit = "2m"\n'
        f'    command = "bash {watch}"\n\n'
        "    def sanity(self, out):\n"
        "        out.expect('its step is gone')\n"
    )
    result = run_assay("run", "test_steps.py", "--plain", cwd=slurm_dir, timeout=240)
    slow, watcher = result.case("Slow"), result.case("Watcher")
    assert slow["failure"]["reason"] == "time limit 3s exceeded"
    assert slow["job_id"].split("+")[0] == watcher["job_id"].split("+")[0]  # one pack
    out = (Path(watcher["output_dir"]) / "assay-run.out").read_text()
    assert watcher["status"] == "passed", out
