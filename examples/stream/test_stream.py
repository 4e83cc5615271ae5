"""A compiled C test with a performance metric held against a reference."""

import assay


class Stream(assay.Test):
    """Memory bandwidth of a STREAM-like triad kernel, with 1 and 2 threads."""

    tags = {"perf", "memory"}
    sources = "src/"  # relative to this file; copied into each case's stage dir
    build = "cc -O3 -fopenmp stream.c -o stream -lm"
    command = "./stream"
    threads = assay.parameter([1, 2])
    env = {"OMP_NUM_THREADS": "{threads}"}
    time_limit = "2m"
    # A conservative reference for any machine, even a busy one: at least 2 GB/s. Pin
    # real numbers per system with keys such as "cluster:cpu".
    references = {"*": {"triad": assay.ref(10_000, lower=-0.8, unit="MB/s")}}

    def sanity(self, out):
        out.expect(r"Solution Validates")
        threads = out.extract(r"threads: (\d+)", int)
        assert threads == self.threads, f"ran with {threads} threads, asked for {self.threads}"

    @assay.metric("MB/s")
    def triad(self, out):
        return out.extract(r"Triad:\s+(\S+)", float)
