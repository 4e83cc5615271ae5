"""A metric followed across sessions: plot_trend.py records a history with a slowdown in it
and draws the trend plot shown in the README (docs/history.md explains the detection)."""

import sys
from pathlib import Path

import assay

KERNEL = Path(__file__).with_name("kernel.py")


class Triad(assay.Test):
    """Bandwidth of a (simulated) triad kernel; higher is better (the unit says so)."""

    command = f"{sys.executable} {KERNEL}"
    time_limit = "1m"

    @assay.metric("GB/s")
    def triad(self, out):
        return out.extract(r"triad: (\S+) GB/s", float)
