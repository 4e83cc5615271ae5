# The example of docs/history.md, "Detecting regressions": a rate measured once per run.
import assay


class Throughput(assay.Test):
    speed = assay.variable(float, 10.0)
    command = "echo {speed}"

    @assay.metric("GB/s")
    def rate(self, out):
        return out.extract(r"(\S+)", float)
