"""An MPI ping-pong compiled with mpicc: latency and bandwidth metrics, on one node and on
two (a scaling table by node count). It runs on partitions named mpi* (assay.toml here):
the launcher there (mpirun, or srun on Slurm) starts its two ranks."""

import re

import assay


class PingPong(assay.Test):
    """Round trips between two ranks: 8-byte messages (latency), 1 MiB ones (bandwidth)."""

    tags = {"mpi", "perf"}
    systems = ["*:mpi*"]  # only where a partition has an MPI launcher
    sources = "src/"
    build = "mpicc -O2 -o pingpong pingpong.c"
    command = "./pingpong"
    nodes = assay.parameter([1, 2])  # a partition with fewer nodes skips the 2-node case
    tasks = 2
    scaling = "nodes"
    time_limit = "2m"
    # Loose on purpose (any machine, emulated nodes); pin real numbers per system.
    references = {
        "*": {
            "latency": assay.ref(100.0, upper=9.0, unit="us"),
            "bandwidth": assay.ref(1000.0, lower=-0.95, unit="MB/s"),
        }
    }

    def sanity(self, out):
        ranks = re.findall(r"rank (\d+) of (\d+) on \S+ node (\S+)", out.stdout)
        assert sorted(int(r) for r, _, _ in ranks) == [0, 1], f"ranks that ran: {ranks}"
        assert all(int(n) == 2 for _, n, _ in ranks), "every rank must see 2 ranks"
        nodes = {node for _, _, node in ranks}
        if self.nodes == 2 and "-" not in nodes:  # under Slurm: one rank on each node
            assert len(nodes) == 2, f"both ranks ran on {nodes}"

    @assay.metric("us", better="lower")
    def latency(self, out):
        return out.extract(r"latency: (\S+) us", float)

    @assay.metric("MB/s")
    def bandwidth(self, out):
        return out.extract(r"bandwidth: (\S+) MB/s", float)
