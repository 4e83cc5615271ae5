"""The smallest useful test: run a command, check its output."""

import assay


class Hello(assay.Test):
    """Greets the world."""

    tags = {"quick"}
    command = "echo 'Hello, world!'"

    def sanity(self, out):
        out.expect(r"Hello, world!")
