"""SSH partitions in the config: what is required, what is refused, what is shared."""

from __future__ import annotations

import pytest

from assay.config import parse_config
from assay.errors import ConfigError
from assay.transports.local import LocalTransport
from assay.transports.registry import transports_for
from assay.transports.ssh import SshTransport


def _config(partitions: str) -> str:
    return "[systems.s]\n" + partitions


def test_an_ssh_partition_needs_its_host() -> None:
    with pytest.raises(ConfigError, match=r'partitions\.p\.ssh: transport = "ssh" needs the host'):
        parse_config(_config('[systems.s.partitions.p]\ntransport = "ssh"\n'), "t.toml")
    with pytest.raises(ConfigError, match=r"ssh: .*missing required field|host"):
        parse_config(_config('[systems.s.partitions.p]\ntransport = "ssh"\nssh = {}\n'), "t.toml")


def test_ssh_settings_without_the_ssh_transport_are_refused() -> None:
    with pytest.raises(ConfigError, match='SSH settings for a partition with transport = "local"'):
        parse_config(_config('[systems.s.partitions.p]\nssh = { host = "h" }\n'), "t.toml")


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ('host = "-oProxyCommand=x"', "is not a host name"),
        ('host = "h", user = "-x"', "is not a user name"),
        ('host = "h\\nx"', "control character"),
        ('host = "h", workdir = "/"', "give a directory of its own"),
        ('host = "h", workdir = "~"', "give a directory of its own"),
        ('host = "h", port = 70000', "port"),
        ('host = "h", max_channels = 0', "max_channels"),
        ('host = "h", identity = "k\\u0000"', "control character"),
        ('host = "h", proxy_jump = "-oProxyCommand=x"', "is not a jump host"),
        ('host = "h", proxy_jump = "gw,-J"', "is not a jump host"),
        ('host = "h", proxy_jump = "me@-x"', "is not a jump host"),
        ('host = "h", proxy_jump = "gw,,gw2"', "is not a jump host"),
        ('host = "h", proxy_jump = "gw x"', "is not a jump host"),
    ],
)
def test_bad_ssh_settings_are_refused_naming_the_key(setting: str, words: str) -> None:
    text = _config(f'[systems.s.partitions.p]\ntransport = "ssh"\nssh = {{ {setting} }}\n')
    with pytest.raises(ConfigError, match=r"systems\.s\.partitions\.p") as caught:
        parse_config(text, "t.toml")
    assert words in str(caught.value)


def test_partitions_on_one_host_share_one_connection() -> None:
    config = parse_config(
        _config(
            """
[systems.s.partitions.a]
transport = "ssh"
ssh = { host = "login", user = "me", workdir = "a" }
[systems.s.partitions.b]
transport = "ssh"
scheduler = "slurm"
ssh = { host = "login", user = "me", workdir = "b" }
[systems.s.partitions.c]
transport = "ssh"
ssh = { host = "login", user = "someone-else" }
[systems.s.partitions.d]
"""
        ),
        "t.toml",
    )
    local = LocalTransport()
    of = transports_for(config.partitions("s"), local, "session")
    assert of["s:a"] is of["s:b"]  # one connection, its agent knows both workdirs
    assert of["s:c"] is not of["s:a"]  # another user: another connection
    assert of["s:d"] is local
    assert isinstance(of["s:a"], SshTransport)
    assert of["s:a"].workdirs == ["a", "b"]


@pytest.mark.parametrize(
    "jump", ["gateway.example.org", "me@gw.example.org:2222", "gw1,me@gw2", "[::1]:22", "a_b"]
)
def test_jump_hosts_as_ssh_takes_them_are_accepted(jump: str) -> None:
    ssh = f'ssh = {{ host = "h", proxy_jump = "{jump}" }}\n'
    text = _config(f'[systems.s.partitions.p]\ntransport = "ssh"\n{ssh}')
    assert parse_config(text, "t.toml").systems["s"].partitions["p"].ssh.proxy_jump == jump
