"""assay.digests makes the digests hashlib makes (stage directory names, recorded keys and
test file keys stay what earlier versions wrote), without loading OpenSSL."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from assay import digests


@pytest.mark.parametrize(
    "data", [b"", b"Sleep[i=0]", "é ünïcode".encode(), bytes(range(256)) * 300]
)
def test_the_digests_are_hashlibs(data):
    assert digests.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert (
        digests.blake2b(data, digest_size=4).hexdigest()
        == hashlib.blake2b(data, digest_size=4).hexdigest()
    )


def test_the_module_loads_neither_hashlib_nor_openssl():
    code = "import sys, assay.digests; print(sorted({'hashlib', '_hashlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
