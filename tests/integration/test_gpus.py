"""A case that needs more GPUs than its partition has is refused with the reason: skipped
when the plan shows it, failed at the run stage when a hook asks for them later."""

from __future__ import annotations

PARTITIONS = """
[systems.here.partitions.cpu]
[systems.here.partitions.gpu]
resources = { gpus_per_node = 2 }
"""

NEEDS_GPUS = """
import assay

class Gpu(assay.Test):
    gpus_per_node = 2
    command = "echo ran"

    def sanity(self, out):
        out.expect("ran")
"""

HOOK_ASKS_MORE = """
import assay

class Greedy(assay.Test):
    systems = ["*:gpu"]
    command = "echo ran"

    @assay.before("run")
    def more(self):
        self.gpus_per_node = 3
"""


def test_a_case_needing_more_gpus_than_its_partition_is_skipped_with_the_fix(assay_cli, write):
    write("assay.toml", PARTITIONS)
    write("test_gpu.py", NEEDS_GPUS)
    result = assay_cli("run", "test_gpu.py", "--plain")
    assert result.code == 0, result
    assert result.case("Gpu @here:gpu")["status"] == "passed"
    cpu = result.case("Gpu @here:cpu")
    assert cpu["status"] == "skipped"
    assert cpu["skip_reason"] == (
        "needs 2 GPUs per node; partition here:cpu has 0 "
        "(systems.here.partitions.cpu.resources.gpus_per_node in the config)"
    )
    more = assay_cli("run", "test_gpu.py", "--plain", "-S", "gpus_per_node=3")
    assert more.code == 0, more
    assert more.case("Gpu @here:gpu")["skip_reason"] == (
        "needs 3 GPUs per node; partition here:gpu has 2 "
        "(systems.here.partitions.gpu.resources.gpus_per_node in the config)"
    )


def test_a_hook_asking_for_more_gpus_than_the_partition_has_fails_the_run(assay_cli, write):
    write("assay.toml", PARTITIONS)
    write("test_greedy.py", HOOK_ASKS_MORE)
    result = assay_cli("run", "test_greedy.py", "--plain")
    assert result.code == 1, result
    failure = result.case("Greedy @here:gpu")["failure"]
    assert failure["stage"] == "run"
    assert failure["reason"] == (
        "needs 3 GPUs per node; partition here:gpu has 2 "
        "(systems.here.partitions.gpu.resources.gpus_per_node in the config)"
    )
    assert "Traceback" not in result.stdout + result.stderr
