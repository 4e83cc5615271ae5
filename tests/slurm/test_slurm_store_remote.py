"""Slurm jobs fetching their build from object storage themselves (the CI cluster, the CI
SeaweedFS): three cases of one packed submission share one fetched tree."""

from __future__ import annotations

import asyncio
import random

from assay.store import Store
from assay.store.s3 import S3Remote
from tests.conftest import run_assay, write_tree
from tests.integration import test_store_s3
from tests.slurm.conftest import CONFIG, MARKS

pytestmark = MARKS
s3 = test_store_s3.s3  # the S3 server's settings and a fresh prefix (a fixture)


def test_slurm_jobs_fetch_a_bucket_version_and_share_it(s3, slurm_dir, tmp_path):
    rng = random.Random(4)
    files = {f"d{i}/f.bin": rng.randbytes(100_000) for i in range(6)}
    store = Store(tmp_path / "pusher")
    store.put("solver", write_tree(tmp_path / "build", files))
    asyncio.run(S3Remote.open(s3["url"]).push(store, "solver"))
    config = CONFIG.format(extra="").replace(
        "[systems.ci.partitions.debug]\n",
        f'[systems.ci.partitions.debug]\nstore_remote = "{s3["url"]}"\n',
    )
    (slurm_dir / "assay.toml").write_text(config)
    (slurm_dir / "test_fetch.py").write_text(
        "import assay\n\n\nclass Fetch(assay.Test):\n"
        '    systems = ["*:debug"]\n    time_limit = "1m"\n    i = assay.parameter(range(3))\n'
        '    artifacts = {"solver": "store:solver@1"}\n'
        "    command = 'cat \"$ASSAY_SOLVER\"/d*/f.bin | wc -c'\n\n"
        "    def sanity(self, out):\n"
        '        out.expect(r"^600000$")\n'
    )
    result = run_assay("run", "test_fetch.py", "--plain", cwd=slurm_dir)
    assert result.code == 0, result
    assert result.report["summary"]["passed"] == 3
    fetched = list(slurm_dir.rglob(".fetched/*"))
    assert len(fetched) == 1  # one tree, shared by the three jobs
    assert (fetched[0] / "d5/f.bin").read_bytes() == files["d5/f.bin"]
    assert not list(slurm_dir.rglob(".fetched/*.partial-*"))  # losers of the race cleaned up
