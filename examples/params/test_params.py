"""Parameters: a cartesian product, a zipped group, a filter and a variable."""

import assay


class Sort(assay.Test):
    """Sort a generated list of numbers and check the result is ordered.

    ``size`` x ``order`` makes 3 x 2 = 6 combinations; the filter drops one.
    """

    tags = {"quick"}
    size = assay.parameter([10, 1000, 100000])
    order = assay.parameter(["asc", "desc"])
    command = "seq {size} | shuf --random-source=<(yes) | sort -n {flags} > sorted.txt"
    flags = assay.variable(list, [])  # a list becomes separate, quoted words
    keep_files = ["sorted.txt"]

    @assay.variant_filter
    def worth_it(size, order):
        return not (size == 10 and order == "desc")

    @assay.before("run")
    def choose_flag(self):
        self.flags = ["-r"] if self.order == "desc" else []

    def sanity(self, out):
        numbers = [int(n) for n in out.file("sorted.txt").split()]
        assert len(numbers) == self.size, f"{len(numbers)} numbers, expected {self.size}"
        expected = sorted(numbers, reverse=self.order == "desc")
        assert numbers == expected, "output is not sorted"


class Scale(assay.Test):
    """Zipped parameters: (tasks, size) pairs move together instead of multiplying."""

    tags = {"quick"}
    workers = assay.parameter([1, 2, 4], group="scale")
    size = assay.parameter([100, 200, 400], group="scale")
    repeat = assay.variable(int, 3, help="how many times each worker counts")
    # A shell loop as one command (`bash -c`): a launcher (srun, mpirun) puts its own words
    # in front of the command, and `srun for ...` is no command.
    command = "bash -c 'for w in $(seq {workers}); do seq $(( {size} * {repeat} )) | wc -l; done'"

    def sanity(self, out):
        counts = out.extract_all(r"^(\d+)$", int)
        assert counts == [self.size * self.repeat] * self.workers, counts
