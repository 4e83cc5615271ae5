"""``scripts/s3-ci``, the SeaweedFS the S3 tests use, run as a developer runs it: a second
server of its own (its own directory and ports), never the shared one. ``down`` returns once
the server's ports are free, and ``up`` waits for a port still held (``down`` then ``up`` at
once once made SeaweedFS panic on a port the killed server still held)."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "s3-ci"


def _weed() -> Path:
    weed = Path(os.environ.get("S3_CI_DIR", "/tmp/assay-s3")) / "venv" / "bin" / "weed"
    if not weed.is_file():
        message = "no SeaweedFS installed (scripts/s3-ci up installs it)"
        if os.environ.get("ASSAY_REQUIRE_S3") == "1":
            pytest.fail(f"ASSAY_REQUIRE_S3=1 but {message}")
        pytest.skip(message)
    return weed


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(port: int) -> list[int]:
    base = port - 10000
    own = [port, base + 1000, base + 2000, base + 3000, base + 4000]
    return own + [p + 10000 for p in own[:4]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The settings of a server of this test's own (not started), stopped at the end."""
    weed = _weed()
    home = Path("/tmp") / f"assay-s3-test-{os.getpid()}-{random.randrange(10**6)}"
    (home / "venv" / "bin").mkdir(parents=True)
    (home / "venv" / "bin" / "weed").symlink_to(weed)
    # Every port of the server below the kernel's range of ephemeral ports: a port free when
    # chosen stays free, where one in that range may be taken meanwhile as the source port of
    # any connection (the other CI worker's, to the shared S3 server: a volume server then
    # panicked on its port in a CI run). P and P - 9000 ... P + 10000: all in 3000-23000.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert low > 23000, f"ephemeral ports from {low}: choose the test's ports below them"
    port = next(p for p in random.sample(range(12000, 13000), 50) if all(map(_free, _ports(p))))
    env = {**os.environ, "S3_CI_DIR": str(home), "S3_CI_PORT": str(port)}
    env["S3_CI_BUCKET"] = "ci-script-test"
    yield env
    subprocess.run([SCRIPT, "down"], env=env, capture_output=True, timeout=120)
    if home.is_dir() and home.parent == Path("/tmp"):  # checked: a path this fixture made
        subprocess.run(["rm", "-rf", "--one-file-system", str(home)], check=False)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=300)


def test_up_waits_for_a_port_still_held_then_down_frees_every_port(server):
    port = int(server["S3_CI_PORT"])
    master = port - 10000 + 1000
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", master))
    held.listen()  # what a server killed a moment ago still holds
    timer = threading.Timer(3.0, held.close)
    timer.start()
    try:
        up = _run(server, "up")
    finally:
        timer.cancel()
        held.close()
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"waiting for 127.0.0.1:{master}" in up.stdout, up.stdout
    assert _run(server, "status").returncode == 0
    again = _run(server, "up")  # a long-lived server: the space of deleted objects back
    assert again.returncode == 0 and "already up" in again.stdout and "; vacuumed" in again.stdout
    down = _run(server, "down")
    assert down.returncode == 0, down.stderr
    assert [p for p in _ports(port) if not _free(p)] == []  # at once: up may follow


def test_up_names_a_port_that_stays_held(server):
    port = int(server["S3_CI_PORT"])
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen()
        up = _run({**server, "S3_CI_PORT_WAIT": "2"}, "up")
    assert up.returncode != 0
    # The held port is named among those still in use (another of the server's ports may
    # be too, when a server of this test module stopped a moment before).
    held_line = re.search(r"error: ((?:127\.0\.0\.1:\d+ )+)is still in use", up.stderr)
    assert held_line is not None, up.stderr
    assert f"127.0.0.1:{port}" in held_line.group(1).split(), up.stderr
    assert "panic" not in up.stderr


def _ephemeral() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_default_ports_are_all_below_the_ephemeral_range():
    # A port in the kernel's ephemeral range can be taken as the source port of any
    # connection before the server binds it (the default's gRPC port was 38333 once).
    env = {k: v for k, v in os.environ.items() if k != "S3_CI_PORT"}
    done = subprocess.run([SCRIPT, "ports"], env=env, capture_output=True, text=True, check=True)
    ports = [int(p) for p in done.stdout.split()]
    assert sorted(ports) == sorted(_ports(ports[0]))
    low, _ = _ephemeral()
    assert max(ports) < low, ports
    assert "warning" not in done.stderr


def test_a_port_in_the_ephemeral_range_is_warned_about_by_name():
    low, high = _ephemeral()
    port = (low + high) // 2  # the S3 port itself in the range
    env = {**os.environ, "S3_CI_PORT": str(port)}
    done = subprocess.run([SCRIPT, "ports"], env=env, capture_output=True, text=True, check=True)
    assert f"port {port} is in the kernel's ephemeral range ({low}-{high})" in done.stderr
    assert "S3_CI_PORT" in done.stderr


def test_a_setting_that_is_not_a_number_is_refused_before_any_arithmetic_runs_it(tmp_path):
    # bash evaluates a variable inside $((...)) as an expression, a subscript's command
    # substitution included: S3_CI_PORT='HOME[$(cmd)]' once ran cmd.
    # A number on the first line does not carry a second one past the check either
    # (a check that matched line by line would take it).
    planted = tmp_path / "ran"
    for name in ("S3_CI_PORT", "S3_CI_VOLUMES", "S3_CI_PORT_WAIT"):
        for value in (f"HOME[$(touch {planted})]", f"18333\nHOME[$(touch {planted})]"):
            env = {**os.environ, name: value}
            done = subprocess.run([SCRIPT, "ports"], env=env, capture_output=True, text=True)
            assert done.returncode != 0
            assert f"error: {name} must be a whole number, not '{value}'" in done.stderr
            assert not planted.exists(), (name, value)


@pytest.mark.parametrize("port", ["9999", "55536", "70000"])
def test_a_port_whose_server_ports_leave_1024_to_65535_is_refused_with_the_range(port):
    env = {**os.environ, "S3_CI_PORT": port}
    done = subprocess.run([SCRIPT, "ports"], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and done.stdout == ""
    assert f"S3_CI_PORT={port}: the server also listens on ports" in done.stderr
    assert "choose S3_CI_PORT in 10024-55535" in done.stderr


def test_the_edges_of_the_port_range_are_taken():
    for port in (10024, 55535):
        env = {**os.environ, "S3_CI_PORT": str(port)}
        done = subprocess.run([SCRIPT, "ports"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        ports = [int(p) for p in done.stdout.split()]
        assert min(ports) >= 1024 and max(ports) <= 65535 and port in ports
