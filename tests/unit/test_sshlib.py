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
