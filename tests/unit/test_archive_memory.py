"""Archives that expand enormously unpack, and go into the store, in bounded memory.

Each unpack or put runs in a subprocess that reports its own peak resident memory (``VmHWM``
of its address space; not ``ru_maxrss``, which on Linux a child inherits from the big pytest
process it was spawned from): a bound on memory, far below what the archive expands to, not a
timing."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

GiB = 2**30
BOUND = 192 * 2**20  # far below the 1 GiB (and 256 MiB) the archives expand to

pytestmark = pytest.mark.slow


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _tar_of_zeros(path: Path, mode: str, size: int) -> Path:
    with tarfile.open(path, mode) as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), 1 << 20))
    return path


def _zip_of_zeros(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            left = size
            while left:
                out.write(bytes(min(left, 1 << 20)))
                left -= min(left, 1 << 20)
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        # About 1 MB each, 1 GiB unpacked: the archive of issue 8.
        "tar.gz": _tar_of_zeros(folder / "zeros.tar.gz", "w:gz", GiB),
        "zip": _zip_of_zeros(folder / "zeros.zip", GiB),
        # 300 bytes for 256 MiB: one input block that decompresses to all of it at once.
        "tar.bz2": _tar_of_zeros(folder / "zeros.tar.bz2", "w:bz2", GiB // 4),
    }


_CHILD = """
import json, sys
from pathlib import Path
what, archive, where = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if what == "unpack":
    from assay.archives import unpack
    done = unpack(archive, where).bytes
else:
    from assay.store import Store
    done = Store(where).put("zeros", archive).imported.bytes
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"bytes": done, "peak": peak}))
"""


def _peak(what: str, archive: Path, where: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, what, str(archive), str(where)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(out.stdout)
    return report["bytes"], report["peak"]


@pytest.mark.parametrize(
    ("what", "fmt"), [("unpack", "tar.gz"), ("put", "tar.gz"), ("put", "zip"), ("put", "tar.bz2")]
)
def test_an_archive_of_zeros_is_handled_in_bounded_memory(bombs, tmp_path, what, fmt):
    archive = bombs[fmt]
    assert archive.stat().st_size < 2 * 2**20
    size, peak = _peak(what, archive, tmp_path / "out")
    assert size == (GiB // 4 if fmt == "tar.bz2" else GiB)
    assert peak < BOUND, f"{what} {fmt}: peak resident memory {peak / 2**20:.0f} MiB"
    if what == "unpack":
        assert (tmp_path / "out" / "zeros.bin").stat().st_size == GiB
