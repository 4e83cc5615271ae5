"""Which cipher assay's SSH connections prefer: AES-GCM, whose packets cost asyncssh a few
microseconds each, where chacha20-poly1305 (asyncssh's first choice) costs it some 15 (two
cipher objects made per packet); the user's own ``Ciphers`` always win."""

from __future__ import annotations

import asyncio
from pathlib import Path

from assay.config import Ssh
from assay.transports.ssh_connect import client_options, preferences


def _options(tmp_path: Path, config: str) -> list[bytes]:
    conf = tmp_path / "ssh_config"
    conf.write_text(config)
    settings = Ssh(host="h.example", user="me", config=str(conf))
    options = asyncio.run(client_options(settings))
    asked = preferences(options).get("encryption_algs")
    return list(options.encryption_algs) if asked is None else [a.encode() for a in asked]


def test_aes_gcm_is_preferred_when_the_user_names_no_ciphers(tmp_path: Path) -> None:
    algs = _options(tmp_path, "Host other\n  Port 2200\n")
    assert algs[0] in (b"aes128-gcm@openssh.com", b"aes256-gcm@openssh.com")
    # Nothing dropped: a server without AES-GCM still finds what it has.
    assert b"chacha20-poly1305@openssh.com" in algs and b"aes128-ctr" in algs


def test_the_users_ciphers_are_kept_as_they_are(tmp_path: Path) -> None:
    algs = _options(tmp_path, "Host h.example\n  Ciphers chacha20-poly1305@openssh.com\n")
    assert algs == [b"chacha20-poly1305@openssh.com"]
