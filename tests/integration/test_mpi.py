"""Open MPI for real (Debian's openmpi-bin, installed by scripts/test-all): the example's
ping-pong compiled with mpicc and started by mpirun, and mpirun's geometry for N ranks.

Run as root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT*; on 2 cores it needs oversubscription.
Both are the partition's variables in the configs below (and in examples/mpi/assay.toml),
not something assay adds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("mpicc") is None and not os.environ.get("ASSAY_REQUIRE_MPI"),
    reason="Open MPI is not installed (scripts/test-all installs it)",
)

EXAMPLE = ROOT / "examples" / "mpi"

MPIRUN = """
[systems.here.partitions.mpi]
launcher = "mpirun"
resources = { nodes = 1 }
[systems.here.partitions.mpi.variables]
OMPI_ALLOW_RUN_AS_ROOT = "1"
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = "1"
OMPI_MCA_rmaps_base_oversubscribe = "1"
"""

RANKS = r"""
import assay

class Ranks(assay.Test):
    sources = "src"
    build = "mpicc -o ranks ranks.c"
    command = "./ranks"
    tasks = assay.parameter([1, 3])

    def sanity(self, out):
        seen = out.extract_all(r"rank (\d+) of (\d+)", int)
        assert sorted(seen) == list(range(self.tasks)), seen
        out.expect(rf"of {self.tasks}\b")
"""

RANKS_C = r"""
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    printf("rank %d of %d\n", rank, size);
    MPI_Finalize();
    return 0;
}
"""


def test_the_mpi_example_passes_locally_with_mpirun(assay_cli):
    result = assay_cli("run", str(EXAMPLE), "-c", str(EXAMPLE / "assay.toml"), "--plain")
    assert result.code == 0, result
    one = result.case("PingPong[nodes=1]")
    assert one["status"] == "passed"
    metrics = {m["name"]: m for m in one["metrics"]}
    assert metrics["latency"]["value"] > 0 and metrics["latency"]["unit"] == "us"
    assert metrics["bandwidth"]["value"] > 0 and metrics["bandwidth"]["unit"] == "MB/s"
    script = (Path(one["output_dir"]) / "assay-run.sh").read_text()
    assert "mpirun -np 2 ./pingpong" in script
    assert "export OMPI_ALLOW_RUN_AS_ROOT=" in script  # from the partition's config
    ranks = (Path(one["output_dir"]) / "assay-run.out").read_text()
    assert "rank 0 of 2" in ranks and "rank 1 of 2" in ranks
    two = result.case("PingPong[nodes=2]")
    assert two["status"] == "skipped"
    assert two["skip_reason"] == (
        "needs 2 nodes; partition workstation:mpi has 1 "
        "(systems.workstation.partitions.mpi.resources.nodes in the config)"
    )
    (table,) = result.report["scaling"]
    assert table["parameter"] == "nodes"


def test_mpirun_starts_the_ranks_a_case_asks_for(assay_cli, write):
    write("assay.toml", MPIRUN)
    write("test_ranks.py", RANKS)
    write("src/ranks.c", RANKS_C)
    result = assay_cli("run", "test_ranks.py", "-S", "tasks_per_node=3", "--plain")
    assert result.code == 0, result
    for tasks in (1, 3):
        case = result.case(f"Ranks[tasks={tasks}]")
        assert case["status"] == "passed", case
        script = (Path(case["output_dir"]) / "assay-run.sh").read_text()
        assert f"mpirun -np {tasks} --map-by ppr:3:node ./ranks" in script


def test_without_the_root_settings_open_mpi_refuses_and_the_case_says_why(assay_cli, write):
    if os.geteuid() != 0:
        pytest.skip("Open MPI only refuses root")
    write("assay.toml", MPIRUN.split("[systems.here.partitions.mpi.variables]")[0])
    write("test_ranks.py", RANKS)
    write("src/ranks.c", RANKS_C)
    env = {k: "" for k in os.environ if k.startswith("OMPI_")}
    result = assay_cli("run", "test_ranks.py", "-P", "tasks=1", "--plain", env=env)
    assert result.code == 1, result
    case = result.case("Ranks[tasks=1]")
    assert case["failure"]["stage"] == "sanity"
    stderr = (Path(case["stage_dir"]) / "assay-run.err").read_text()
    assert "--allow-run-as-root" in stderr  # Open MPI's own explanation


SESSION_DIRS = r"""
import assay

class Where(assay.Test):
    command = "printenv OMPI_FILE_LOCATION"
    copy = assay.parameter([1, 2])

    def sanity(self, out):
        out.expect("assay-ompi")
"""


def test_each_case_has_an_open_mpi_session_dir_of_its_own_which_goes(assay_cli, write, tmp_path):
    # Open MPI 4 races when runs sharing $TMPDIR/ompi.HOST.UID end and start at once
    # ("orte_session_dir failed", about 1 in 300 starts 8 at once here: not on demand), so
    # each job's mpirun gets its own top dir; this checks it is used and removed.
    write("assay.toml", MPIRUN)
    write("test_where.py", SESSION_DIRS)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = assay_cli("run", "test_where.py", "--plain", env={"TMPDIR": str(scratch)})
    assert result.code == 0, result
    seen = set()
    for copy in (1, 2):
        case = result.case(f"Where[copy={copy}]")
        out = (Path(case["output_dir"]) / "assay-run.out").read_text().strip()
        assert out.startswith(f"{scratch}/assay-ompi."), out
        seen.add(out.split("/")[len(scratch.parts)])
    assert len(seen) == 2, seen  # one dir per case
    assert list(scratch.glob("assay-ompi.*")) == []  # Open MPI removed them
