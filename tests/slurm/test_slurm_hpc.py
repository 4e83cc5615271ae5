"""HPC on the real Slurm cluster: a build on the local partition used by a job on the
Slurm partition (dependencies_from), MPI across both emulated nodes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.conftest import ROOT, run_assay
from tests.slurm.conftest import CONFIG, MARKS

pytestmark = MARKS

CROSS = """
import assay

class Compile(assay.Test):
    systems = ["*:local"]
    build = ["echo 'int puts(const char *); int main(void) { puts(\\"made here\\"); }' > m.c",
             "gcc -o made m.c"]
    command = "echo built in ${SLURM_JOB_ID:-no job}"

class UseIt(assay.Test):
    systems = ["*:debug"]
    depends_on = ["Compile"]
    binary = assay.variable(str, "")
    command = "{binary}; echo job $SLURM_JOB_ID on $SLURMD_NODENAME"

    @assay.before("run")
    def locate(self):
        self.binary = str(self.dependency("Compile").stage_dir / "made")

    def sanity(self, out):
        out.expect("made here")
        out.expect(r"job [0-9]+ on c[12]")
"""


def test_a_slurm_job_uses_what_the_local_partition_built(slurm_dir: Path) -> None:
    text = CONFIG.format(extra="").replace(
        "[systems.ci.partitions.debug]\n",
        '[systems.ci.partitions.debug]\ndependencies_from = ["local"]\n',
    )
    (slurm_dir / "assay.toml").write_text(text)
    (slurm_dir / "test_cross.py").write_text(CROSS)
    result = run_assay("run", "test_cross.py", "--plain", "-p", "debug", cwd=slurm_dir)
    assert result.code == 0, result
    build = result.case("Compile @ci:local")
    assert "built in no job" in (Path(build["output_dir"]) / "assay-run.out").read_text()
    use = result.case("UseIt @ci:debug")
    assert use["status"] == "passed" and use["job_id"]
    # without dependencies_from the Slurm partition's case is skipped, as before
    (slurm_dir / "assay.toml").write_text(CONFIG.format(extra=""))
    again = run_assay("run", "test_cross.py", "--plain", "-p", "debug", cwd=slurm_dir)
    assert again.case("UseIt @ci:debug")["status"] == "skipped", again


EXAMPLE = ROOT / "examples" / "mpi"


def test_the_mpi_example_runs_across_both_nodes_with_srun(slurm_dir: Path) -> None:
    # srun starts the ranks through Slurm's PMIx plugin (SLURM_MPI_TYPE in the example's
    # partition config); scripts/slurm-ci gives each emulated node a TmpFS of its own, which
    # the plugin needs, and the libpmix-dev it loads.
    result = run_assay(
        "run",
        str(EXAMPLE),
        "-c",
        str(EXAMPLE / "assay.toml"),
        "--system",
        "slurm-ci",
        "--plain",
        # Debian's Open MPI 4.1.4 now and then segfaults in MPI_Init (a call through a null
        # pointer in its TCP transport, mca_btl_tcp, as two ranks connect; 2 launches in
        # about 500 here, with or without assay): a case whose start met it runs again.
        "--max-retries",
        "1",
        cwd=slurm_dir,
        timeout=300,
    )
    # What is tested is how the ranks start; the example's bounds on latency and bandwidth
    # (loose, but real) judge the machine, and two emulated nodes on a loaded 2-core CI
    # machine fall below them now and then (35 MB/s against 50 at load 14): such a verdict
    # is accepted here, any other failure is not.
    judged = [c for c in result.report["cases"] if c["status"] == "failed"]
    assert all(c["failure"]["stage"] == "performance" for c in judged), result
    assert result.code == (1 if judged else 0), result
    for nodes in (1, 2):
        case = result.case(f"PingPong[nodes={nodes}]")
        assert case["status"] in ("passed", "failed") and case["job_id"], case
        out = Path(case["output_dir"])
        assert "srun --ntasks=2 ./pingpong" in (out / "assay-run.sh").read_text()
        ranks = re.findall(r"rank (\d) of 2 on \S+ node (c\d)", (out / "assay-run.out").read_text())
        assert sorted(r for r, _ in ranks) == ["0", "1"]
        assert len({node for _, node in ranks}) == nodes  # two nodes: one rank on each
        assert {m["name"] for m in case["metrics"]} == {"latency", "bandwidth"}
    (table,) = result.report["scaling"]
    assert table["parameter"] == "nodes" and [r["size"] for r in table["rows"]] == [1, 2]
    assert "scaling of PingPong @slurm-ci:mpi+builtin" in result.stdout


def test_the_params_example_runs_unchanged_with_srun_as_launcher(slurm_dir: Path) -> None:
    # The debug partition launches with srun, as docs/slurm.md's and docs/remote.md's
    # clusters do: Scale's shell loop runs under `bash -c`, since `srun for ...` is no
    # command (before: three failures, "syntax error near unexpected token `do'").
    shutil.copytree(ROOT / "examples" / "params", slurm_dir / "params")
    result = run_assay("run", "params", "-p", "debug", "--plain", cwd=slurm_dir, timeout=300)
    assert result.code == 0, result
    cases = result.report["cases"]
    assert sum(c["name"].startswith("Scale[") for c in cases) == 3
    assert {c["status"] for c in cases} == {"passed"}


def test_a_job_script_that_stops_before_its_command_ends_says_so(slurm_dir: Path) -> None:
    # `srun --ntasks=1 echo x )` is a syntax error of the job script's shell: no exit code is
    # recorded, and the reason says why there is none (before: "no exit code" alone).
    (slurm_dir / "test_loop.py").write_text(
        "import assay\n\nclass Loop(assay.Test):\n    command = 'echo x )'\n"
    )
    result = run_assay("run", "test_loop.py", "-p", "debug", "--plain", cwd=slurm_dir)
    assert result.code == 1, result
    (case,) = result.report["cases"]
    assert case["failure"]["reason"] == (
        "no exit code: the job script stopped before its command ended (its stderr says why) "
        "(expected exit code 0)"
    )
    assert "syntax error" in result.stdout  # the stderr's tail, in the summary


SHELL_FIRST = """
import assay

class Assign(assay.Test):
    systems = ["*:debug"]
    command = "OMP_NUM_THREADS=2 hostname"

class Cd(assay.Test):
    systems = ["*:debug"]
    command = "cd .. && hostname"

class Two(assay.Test):
    systems = ["*:debug"]
    tasks = 2
    command = "hostname; ./second"

class Program(assay.Test):
    systems = ["*:debug"]
    command = "echo node $SLURMD_NODENAME | tr a-z A-Z; echo done"

    def sanity(self, out):
        out.expect("^NODE C[12]$")
        out.expect("^done$")
"""


def test_a_command_srun_cannot_start_fails_before_a_job_with_the_fix(slurm_dir: Path) -> None:
    # srun goes in front of the command's text, so its first word must be a program: before,
    # both jobs ran and failed on the node with srun's bare "execve(): OMP_NUM_THREADS=2: No
    # such file or directory" as an exit code 2 at sanity.
    (slurm_dir / "test_first.py").write_text(SHELL_FIRST)
    result = run_assay("run", "test_first.py", "--plain", "-p", "debug", cwd=slurm_dir)
    assert result.code == 1, result
    assign, cd = result.case("Assign @ci:debug"), result.case("Cd @ci:debug")
    for case in (assign, cd):
        assert case["status"] == "failed" and case["failure"]["stage"] == "run", case
        assert not case["job_id"], case  # refused before sbatch
    reason = assign["failure"]["reason"]
    assert "variable assignment 'OMP_NUM_THREADS=2'" in reason, reason
    assert 'env = {"OMP_NUM_THREADS": "..."}' in reason, reason
    assert "shell word 'cd'" in cd["failure"]["reason"] and "prerun" in cd["failure"]["reason"]
    # a second program of the test's own would run once, outside srun: before, the job ran
    two = result.case("Two @ci:debug")
    assert two["status"] == "failed" and not two["job_id"], two
    assert "the program './second' comes after `;`" in two["failure"]["reason"], two
    assert "postrun" in two["failure"]["reason"]
    # a program first, with shell after it, runs as before
    assert result.case("Program @ci:debug")["status"] == "passed", result


BUILD_ONLY = """
import assay

class Build(assay.Test):
    systems = ["*:debug"]
    build = "echo 'echo made' > tool.sh"
    command = "true"

class Use(assay.Test):
    systems = ["*:debug"]
    depends_on = ["Build"]
    tool = assay.variable(str, "")
    command = "bash {tool}"

    @assay.before("run")
    def locate(self):
        self.tool = str(self.dependency("Build").stage_dir / "tool.sh")

    def sanity(self, out):
        out.expect("made")
"""


def test_a_test_that_only_builds_costs_no_job(slurm_dir: Path) -> None:
    (slurm_dir / "test_build_only.py").write_text(BUILD_ONLY)
    result = run_assay("run", "test_build_only.py", "--plain", "-p", "debug", cwd=slurm_dir)
    assert result.code == 0, result
    build, use = result.case("Build @ci:debug"), result.case("Use @ci:debug")
    # Before, `true` was a Slurm job of its own, which Use waited for in the queue.
    assert build["status"] == "passed" and not build["job_id"], build
    assert (Path(build["output_dir"]) / "assay-run.out").read_text() == ""
    assert use["status"] == "passed" and use["job_id"], use  # the real run: a job
