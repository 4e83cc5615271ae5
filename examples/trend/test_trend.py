"""A metric followed across sessions: plot_trend.py records a history with a slowdown in it
and draws the trend plot shown in the README (docs/history.md explains the detection)."""

import assay


class Triad(assay.Test):
    """Bandwidth of a (simulated) triad kernel; higher is better (the unit says so)."""

    # The kernel is staged beside the job, so that the test runs on an SSH partition as
    # here (the path of this machine's interpreter and file mean nothing on another host).
    sources = "kernel.py"
    command = "python3 kernel.py"
    time_limit = "1m"

    @assay.metric("GB/s")
    def triad(self, out):
        return out.extract(r"triad: (\S+) GB/s", float)
