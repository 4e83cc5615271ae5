"""What a finished case leaves in the runner's memory: nothing the garbage collector has to
find. Its attempt (with its test instance, output and result) goes when the runner drops
it, by reference counting, so that a long run's collections do not go through the cases
that finished (they used to: a cycle between the attempt and where its code prints)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_assay

# The first case's sanity turns the collector off and keeps a weak reference to its own
# test instance; the second (run after it, --serial) finds that instance gone (only
# reference counting can have freed it), then turns the collector back on.
TWO_CASES = """
import gc
import weakref

import assay

seen = {}


class Freed(assay.Test):
    i = assay.parameter([0, 1])
    command = "echo hello"

    def sanity(self, out):
        out.expect("hello")
        if self.i == 0:
            gc.disable()
            seen["first"] = weakref.ref(self)
            return
        alive = seen["first"]() is not None
        gc.enable()
        assert not alive, "the first case's test instance outlived its case"
"""


def test_a_finished_case_is_freed_without_the_garbage_collector(tmp_path: Path) -> None:
    (tmp_path / "test_freed.py").write_text(TWO_CASES)
    result = run_assay("run", "test_freed.py", "--plain", "--serial", cwd=tmp_path)
    assert result.code == 0, result
    assert [result.case(f"Freed[i={i}]")["status"] for i in (0, 1)] == ["passed", "passed"]
