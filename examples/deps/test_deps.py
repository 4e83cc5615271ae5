"""A dependency pair: one test builds a tool, the other runs it from the first's stage dir."""

import assay


class BuildGreeter(assay.Test):
    """Compile a small C program once."""

    sources = "greeter.c"
    build = "cc -O2 greeter.c -o greeter"
    command = "./greeter assay"

    def sanity(self, out):
        out.expect(r"^hello, assay$")


class UseGreeter(assay.Test):
    """Run the greeter built by BuildGreeter, once per name, without building again."""

    depends_on = ["BuildGreeter"]
    name = assay.parameter(["alice", "bob"])
    command = "{greeter} {name}"
    greeter = assay.variable(str, "")

    @assay.before("run")
    def locate(self):
        self.greeter = str(self.dependency("BuildGreeter").stage_dir / "greeter")

    def sanity(self, out):
        out.expect(rf"^hello, {self.name}$")
