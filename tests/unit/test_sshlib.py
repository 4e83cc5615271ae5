"""asyncssh imported without its compile-a-program search for liboqs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assay.transports.sshlib import find_lib


def test_importing_the_ssh_transport_asks_no_compiler_for_liboqs() -> None:
    # A spy on ctypes.util.find_library, installed before anything imports asyncssh.
    probe = (
        "import ctypes.util, json\n"
        "asked = []\n"
        "real = ctypes.util.find_library\n"
        "def spy(name):\n"
        "    asked.append(name)\n"
        "    return real(name)\n"
        "ctypes.util.find_library = spy\n"
        "import assay.transports.ssh\n"
        "print(json.dumps([asked, ctypes.util.find_library is spy]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    asked, restored = json.loads(out)
    assert asked == [] and restored


def test_liboqs_is_found_where_the_loader_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    before = find_lib("oqs")
    assert before is None or not before.startswith(str(tmp_path))
    (tmp_path / "liboqs.so.5").write_bytes(b"")
    assert find_lib("oqs") == str(tmp_path / "liboqs.so.5")
    assert find_lib("liboqs") == str(tmp_path / "liboqs.so.5")


def test_the_import_lists_each_loader_directory_once() -> None:
    # Three names looked for, each once per directory (and /lib is /usr/lib on most
    # systems): thousands of entries read three or six times, on every run over SSH.
    probe = (
        "import os, json, collections\n"
        "listed = collections.Counter()\n"
        "real = os.scandir\n"
        "def spy(path='.'):\n"
        "    listed[os.path.realpath(path)] += 1\n"
        "    return real(path)\n"
        "os.scandir = spy\n"
        "real_listdir = os.listdir\n"
        "def spy_listdir(path='.'):\n"
        "    listed[os.path.realpath(path)] += 1\n"
        "    return real_listdir(path)\n"
        "os.listdir = spy_listdir\n"
        "import assay.transports.sshlib\n"
        "os.scandir, os.listdir = real, real_listdir\n"
        "print(json.dumps(dict(listed)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    listed = json.loads(out)
    assert listed, "no loader directory was looked at"
    assert {d: n for d, n in listed.items() if n > 1} == {}


def _probe(code: str, path: Path | None = None) -> dict[str, object]:
    env = None
    if path is not None:
        import os

        env = dict(os.environ, PYTHONPATH=str(path))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


_X509_STATE = (
    "import json, sys\n"
    "import asyncssh.public_key as pk\n"
    "print(json.dumps({'x509': pk._x509_available,\n"
    "    'cryptography.x509': 'cryptography.x509' in sys.modules,\n"
    "    'left': sys.modules.get('asyncssh.crypto.x509', 'absent') is None}))\n"
)


def test_without_pyopenssl_the_ssh_transport_skips_the_x509_import() -> None:
    # asyncssh's X.509 support needs pyOpenSSL; without it asyncssh still imported
    # cryptography.x509 (30-40 ms a run) before failing on OpenSSL, and offers no X.509.
    plain = _probe("import asyncssh\n" + _X509_STATE)
    ours = _probe("import assay.transports.ssh\n" + _X509_STATE)
    if _probe(
        "import importlib.util, json\n"
        "print(json.dumps({'has': importlib.util.find_spec('OpenSSL') is not None}))"
    )["has"]:
        pytest.skip("pyOpenSSL is installed here: X.509 is a capability, kept")
    assert plain["x509"] is False  # the capability the import cost nothing to offer
    assert ours["x509"] == plain["x509"]
    assert ours["cryptography.x509"] is False
    assert ours["left"] is False  # nothing left in sys.modules that blocks a later import


def test_with_pyopenssl_the_x509_support_is_imported_as_before(tmp_path: Path) -> None:
    # A stand-in for pyOpenSSL (an importable ``OpenSSL.crypto``): asyncssh's X.509
    # support must then load as it always did.
    fake = tmp_path / "fake_pyopenssl" / "OpenSSL"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "crypto.py").write_text("")
    ours = _probe("import assay.transports.ssh\n" + _X509_STATE, fake.parent)
    assert ours["x509"] is True
    assert ours["cryptography.x509"] is True
