"""A test author's type checker knows the built-in fields: mypy, run on test files as an
author would (assay installed, its ``py.typed`` marker read), flags a field of the wrong type
and passes a correct test."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

GOOD = '''
import assay


class Good(assay.Test):
    """Every field, written the ways the docs show."""

    tags = {"perf", "memory"}
    maintainers = ["me"]
    systems = ["*:gpu"]
    environments = ("gnu",)
    sources = "src/"
    exclude_sources = ["*.o"]
    writable = ["data/*"]
    build = ["make", "make install"]
    artifacts = {"tool": ["base.tar.gz", "delta.tar.gz"], "data": "data/"}
    command = "./app {size}"
    prerun = ["ulimit -s unlimited"]
    postrun = "echo done"
    env = {"OMP_NUM_THREADS": "4", "N": 2, "X": 0.5}
    keep_files = ["*.log"]
    exit_codes = {0, 3}
    tasks = 4
    tasks_per_node = 2
    cpus_per_task = 1
    nodes = assay.parameter([1, 2])
    gpus_per_node = 0
    exclusive = True
    time_limit = "5m"
    build_time_limit = 90
    references = {"*": {"rate": assay.ref(100, lower=-0.1, unit="op/s")}}
    depends_on = ["Prepare"]
    exclude = [{"nodes": 2}]
    scaling = "nodes"
    size = assay.variable(int, 10)

    @assay.before("run")
    def tune(self) -> None:
        self.time_limit = "10m"
        self.tags = {"tuned"}

    @assay.metric("op/s")
    def rate(self, out: assay.Output) -> float:
        return out.extract(r"rate: (\\S+)", float)


class Later(assay.Test):
    command = "true"
    depends_on = Good
    exit_codes = None
'''

BAD = """
import assay


class Bad(assay.Test):
    tasks = "4"
    time_limit = ["5m"]
    command = 7
    exclusive = "yes"
    env = ["A=1"]
"""


def test_mypy_flags_wrong_field_types_and_passes_right_ones(tmp_path: Path) -> None:
    (tmp_path / "test_good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "test_bad.py").write_text(textwrap.dedent(BAD))
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(
        [*mypy, "test_good.py", "test_bad.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = re.findall(r"^(test_\w+\.py):(\d+): error: (.*)$", proc.stdout, re.M)
    assert "missing library stubs or py.typed" not in proc.stdout, proc.stdout
    assert [e for e in errors if e[0] == "test_good.py"] == [], proc.stdout
    flagged = {int(line): message for file, line, message in errors if file == "test_bad.py"}
    # One error per wrong field: lines 6 to 10 of BAD (after its leading blank line).
    assert sorted(flagged) == [6, 7, 8, 9, 10], proc.stdout
    assert all("[assignment]" in message for message in flagged.values()), proc.stdout
    assert proc.returncode == 1
