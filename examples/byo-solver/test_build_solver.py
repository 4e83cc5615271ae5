"""The build step of the bring-your-own example: compile the solver and pack it the way a
vendor ships a build, as an archive. The suite unpacks it once per run."""

import assay


class BuildSolver(assay.Test):
    """Compile the solver into solver-1.0-linux.tar.gz (bin/solver)."""

    tags = {"byo"}
    sources = "build-solver/src/"
    build = [
        "mkdir -p pkg/bin",
        "$CC -O2 -fopenmp solver.c -o pkg/bin/solver -lm",
        "tar czf solver-1.0-linux.tar.gz -C pkg .",
    ]
    command = "tar tzf solver-1.0-linux.tar.gz"

    def sanity(self, out):
        out.expect(r"bin/solver$")
