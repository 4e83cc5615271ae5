"""A partition over SSH whose jobs fetch their build from object storage (real sshd, real
SeaweedFS): nothing of the build goes down the SSH connection, the host's jobs fetch it."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

from assay.store import Store
from assay.store.s3 import S3Remote
from tests.conftest import write_tree
from tests.integration import test_store_s3
from tests.remote.conftest import SshServer, write_config

s3 = test_store_s3.s3  # the S3 server's settings and a fresh prefix (a fixture)


def test_an_ssh_partition_fetches_a_bucket_version_on_the_host(
    s3, sshd: SshServer, workdir: str, assay_cli, tmp_path: Path
) -> None:
    rng = random.Random(3)
    files = {f"d{i}/f.bin": rng.randbytes(200_000) for i in range(4)}
    store = Store(tmp_path / "pusher")
    store.put("solver", write_tree(tmp_path / "build", files))
    asyncio.run(S3Remote.open(s3["url"]).push(store, "solver"))
    extra = f'store_remote = "{s3["url"]}"\n'
    write_config(tmp_path, sshd, workdir)
    config = (tmp_path / "assay.toml").read_text().replace("ssh = {", extra + "ssh = {", 1)
    (tmp_path / "assay.toml").write_text(config)
    (tmp_path / "test_fetch.py").write_text(
        "import assay\n\n\n"
        "class Fetch(assay.Test):\n"
        '    artifacts = {"solver": "store:solver"}\n'
        "    command = 'cat \"$ASSAY_SOLVER\"/d*/f.bin | wc -c'\n\n"
        "    def sanity(self, out):\n"
        '        out.expect(r"^800000$")\n'
    )
    result = assay_cli("run", "-p", "remote", "test_fetch.py")
    assert result.code == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    [found] = (tmp_path / ".assay/runs").glob("*/report.json")
    [case] = json.loads(found.read_text())["cases"]
    assert case["artifacts"][0]["ref"] == f"solver@1 in {s3['url']}"
    sent = json.dumps(json.loads(found.read_text()))
    assert "Signature=" not in sent
    fetched = list((sshd.home / workdir).rglob(".fetched/*/d0/f.bin"))
    assert len(fetched) == 1 and fetched[0].read_bytes() == files["d0/f.bin"]
    assert not list((sshd.home / workdir).rglob(".assay-fetch-*.json"))  # read and removed
    assert not os.path.exists(tmp_path / ".store/names/solver")  # not in this machine's store
