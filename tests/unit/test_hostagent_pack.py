"""The host agent's zip (:mod:`assay.transports.hostagent_pack`): every module of the
package in it, the same bytes for the same sources whatever their files' dates and modes,
and runnable as it is."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from assay.transports import hostagent_pack
from assay.transports.ssh_connect import agent_name, agent_source

PACKAGE_DIR = Path(hostagent_pack.__file__).parent / "hostagent"


def test_the_zip_holds_every_module_of_the_package_and_a_main(tmp_path: Path) -> None:
    agent = hostagent_pack.write_agent(str(tmp_path / "a.pyz"))
    with zipfile.ZipFile(agent) as zf:
        names = zf.namelist()
        infos = zf.infolist()
        held = {name: zf.read(name) for name in names}
    modules = sorted(p.name for p in PACKAGE_DIR.glob("*.py"))
    assert names == sorted(names)  # sorted: no order of the file system in the bytes
    assert names == ["__main__.py", *(f"assay_hostagent/{m}" for m in modules)]
    for name in modules:
        assert held[f"assay_hostagent/{name}"] == (PACKAGE_DIR / name).read_bytes()
    assert {(i.date_time, i.compress_type, i.external_attr >> 16) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 0o644)
    }


def test_the_same_sources_make_the_same_bytes_whatever_their_files_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = hostagent_pack.agent_bytes()
    # Another process builds the same bytes (nothing of this one's state in them).
    probe = "import sys; from assay.transports import hostagent_pack as p; "
    probe += "sys.stdout.buffer.write(p.agent_bytes())"
    other = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True)
    assert other.stdout == built
    # A copy of the sources with other dates and modes, listed in another order: the same.
    copy = tmp_path / "hostagent"
    shutil.copytree(PACKAGE_DIR, copy)
    for i, path in enumerate(sorted(copy.glob("*.py"), reverse=True)):
        os.utime(path, (1_000_000 + i, 2_000_000_000 - i * 7919))
        path.chmod(0o600 if i % 2 else 0o755)
    monkeypatch.setattr(hostagent_pack, "_HERE", str(copy))
    hostagent_pack.agent_bytes.cache_clear()
    try:
        assert hostagent_pack.agent_bytes() == built
        # The control: a changed source changes the bytes (and so the name on the host).
        (copy / "pool.py").write_text((copy / "pool.py").read_text() + "\n# changed\n")
        hostagent_pack.agent_bytes.cache_clear()
        assert hostagent_pack.agent_bytes() != built
    finally:
        hostagent_pack.agent_bytes.cache_clear()


def test_the_name_on_the_host_is_the_hash_of_the_zip() -> None:
    name, digest = agent_name()
    assert digest == hashlib.sha256(agent_source()).hexdigest()[:16]
    assert name == f"hostagent-{digest}.pyz"


def test_the_zip_runs_as_it_is(tmp_path: Path) -> None:
    # Without the boot program (someone on the host looking at it): Python runs the zip.
    agent = hostagent_pack.write_agent(str(tmp_path / "a.pyz"))
    ran = subprocess.run([sys.executable, "-I", "-S", agent], capture_output=True, text=True)
    assert ran.returncode == 2 and ran.stderr.startswith("usage: python3 -I hostagent.pyz")
    assert "Traceback" not in ran.stderr
