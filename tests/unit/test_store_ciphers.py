"""AES-GCM first on the ssh pipe to a store agent, unless the user's ssh configuration (or a
file it includes) names Ciphers, or the options do: real files, the real argv builder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from assay.store.remote import ssh_argv
from assay.store.remote.ciphers import GCM_FIRST, names_ciphers

GCM = ["-o", f"Ciphers={GCM_FIRST}"]


def _has(argv: list[str], part: list[str]) -> bool:
    return any(argv[i : i + len(part)] == part for i in range(len(argv)))


def test_a_config_without_ciphers_gets_aes_gcm_first(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host box\n    HostName 127.0.0.1\n    # Ciphers aes256-ctr\n")
    argv = ssh_argv("box", "true", config=str(config))
    assert _has(argv, GCM)
    assert argv.index("--") > argv.index(f"Ciphers={GCM_FIRST}")  # an option, before the host


@pytest.mark.parametrize(
    "text",
    [
        "Host box\n    Ciphers aes256-ctr\n",
        "Host *\n  ciphers=aes128-ctr\n",
        "Match all\n\tCIPHERS  +aes128-cbc\n",
    ],
)
def test_a_config_that_names_ciphers_is_left_alone(tmp_path: Path, text: str) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(text)
    assert names_ciphers(str(config))
    assert not any(a.startswith("Ciphers=") for a in ssh_argv("box", "true", config=str(config)))


def test_ciphers_named_in_an_included_file_count_relative_and_globbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As ssh reads it: a relative Include in a user file is under ~/.ssh, and globs expand.
    home = tmp_path / "home"
    (home / ".ssh" / "conf.d").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    (home / ".ssh" / "conf.d" / "10-other.conf").write_text("Host x\n  User me\n")
    config = tmp_path / "ssh_config"
    config.write_text("Include conf.d/*.conf\nHost box\n  HostName 127.0.0.1\n")
    assert not names_ciphers(str(config))
    (home / ".ssh" / "conf.d" / "50-policy.conf").write_text("Ciphers aes256-gcm@openssh.com\n")
    assert names_ciphers(str(config))


def test_an_include_loop_ends(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(f"Include {b}\n")
    b.write_text(f"Include {a}\n")
    assert not names_ciphers(str(a))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_config_counts_as_naming_them(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host box\n")
    config.chmod(0)
    assert names_ciphers(str(config))


def test_an_unreadable_included_folder_counts_as_naming_them(tmp_path: Path) -> None:
    # A directory where a file is expected cannot be read as one (root included).
    (tmp_path / "inc").mkdir()
    config = tmp_path / "ssh_config"
    config.write_text(f"Include {tmp_path / 'inc'}\n")
    assert names_ciphers(str(config))


def test_ciphers_in_the_options_are_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host box\n")
    argv = ssh_argv("box", "true", config=str(config), options=["Ciphers=aes256-ctr"])
    assert argv.count("Ciphers=aes256-ctr") == 1
    assert not _has(argv, GCM)


def test_the_real_ssh_client_takes_the_list(tmp_path: Path) -> None:
    # Every cipher of the list is one this machine's ssh knows (else it would refuse to
    # start): `ssh -G` parses the options without connecting.
    config = tmp_path / "ssh_config"
    config.write_text("Host box\n  HostName 127.0.0.1\n")
    argv = ssh_argv("box", "true", config=str(config))
    out = subprocess.run(
        ["ssh", "-G", *argv[1 : argv.index("--")], "box"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"ciphers {GCM_FIRST}" in out.splitlines()
