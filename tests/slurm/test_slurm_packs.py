"""Against the real Slurm cluster: a packed case is reported when it ends, not when its
pack's last case does, so that the cases depending on it start while the pack runs on."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_assay
from tests.slurm.conftest import MARKS

pytestmark = MARKS

EARLY = """
import assay

class Quick(assay.Test):
    systems = ["*:debug"]
    time_limit = "1m"
    command = "echo quick"

class Waits(assay.Test):
    systems = ["*:debug"]
    time_limit = "20s"
    # Packed with Quick (same resources, same batch): ends once After has run.
    command = "bash -c 'while [ ! -e {mark} ]; do sleep 0.2; done; echo waited'"

class After(assay.Test):
    systems = ["*:debug"]
    time_limit = "1m"
    depends_on = ["Quick"]
    command = "touch {mark}"
"""


def test_a_packed_case_is_reported_while_its_pack_runs_on(slurm_dir: Path) -> None:
    mark = slurm_dir / "after-ran"
    (slurm_dir / "test_early.py").write_text(EARLY.format(mark=mark))
    result = run_assay("run", "test_early.py", "--plain", cwd=slurm_dir, timeout=180)
    # Before, Quick was reported only when its pack ended, so After (its dependent) could
    # not start before Waits, which waits for After, hit its time limit: Waits failed.
    assert result.code == 0, result
    quick, waits = result.case("Quick"), result.case("Waits")
    assert quick["job_id"].split("+")[0] == waits["job_id"].split("+")[0], result  # one pack
    assert result.case("After")["job_id"].split("+")[0] != waits["job_id"].split("+")[0]
    lines = result.stdout.splitlines()
    verdict = {n: i for i, x in enumerate(lines) for n in ("Quick", "Waits") if f"] {n} @" in x}
    assert verdict["Quick"] < verdict["Waits"], result.stdout
