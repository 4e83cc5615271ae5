"""``assay run`` connects to its SSH hosts while it loads the tests and plans
(:mod:`assay.transports.ssh_early`), against the real sshd: the connection is under way
while the test files are still being read, and one the plan does not use starts nothing
there and holds nothing up."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.remote.conftest import SshServer, processes_below, write_config

pytestmark = [pytest.mark.ssh]

Cli = Callable[..., CliResult]

# A test file that, as it is read, waits for assay's agent connector of this run to be
# running on the host: the connection is made while the tests load, or never in time.
_WATCHING = """
import os, pwd, time
import assay

def _connector_seen(user, folder, limit):
    uid = pwd.getpwnam(user).pw_uid
    until = time.monotonic() + limit
    while time.monotonic() < until:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat("/proc/" + entry).st_uid != uid:
                    continue
                with open("/proc/%s/cmdline" % entry, "rb") as fh:
                    line = fh.read().replace(b"\\0", b" ")
            except OSError:
                continue
            if folder.encode() in line and b" connect " in line:
                return True
        time.sleep(0.05)
    return False

SEEN = _connector_seen({user!r}, {folder!r}, 60)
with open({marker!r}, "w") as fh:
    fh.write("seen" if SEEN else "not seen")

class One(assay.Test):
    command = "echo hello"

    def sanity(self, out):
        out.expect("hello")
"""


def test_the_host_is_connected_to_while_the_tests_load(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    remote_write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    marker = tmp_path / "marker"
    folder = str(sshd.home / workdir / "bin")
    remote_write(
        "test_watch.py", _WATCHING.format(user=sshd.user, folder=folder, marker=str(marker))
    )
    result = assay_cli("run", "test_watch.py", "-p", "remote", "--plain")
    assert result.code == 0, result
    assert marker.read_text() == "seen"  # the agent's connector ran while the file loaded


def test_a_host_the_plan_does_not_use_starts_nothing_there(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    remote_write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    # The selection allows both partitions; the test itself only runs on the local one.
    remote_write(
        "test_here.py",
        """
        import assay

        class Here(assay.Test):
            systems = ["ci:local"]
            command = "true"
        """,
    )
    result = assay_cli("run", "test_here.py", "--plain")
    assert result.code == 0, result
    assert "1 passed" in result.stdout
    # The unnamed connector ends with its channel; a daemon, had one been started, would
    # stay for its detach_timeout (10 minutes) waiting for assay to come back.
    folder = sshd.home / workdir
    until = time.monotonic() + 10
    while processes_below(sshd, folder):
        assert time.monotonic() < until, processes_below(sshd, folder)
        time.sleep(0.1)


def test_a_host_that_does_not_answer_holds_up_no_run_that_does_not_use_it(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    # A port that accepts connections and never says a word: connecting there would wait
    # for the whole connect_timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        write_config(tmp_path, sshd, workdir, port=silent.getsockname()[1], connect_timeout="600s")
        write("test_one.py", "import assay\n\nclass One(assay.Test):\n    command = 'true'\n")
        started = time.monotonic()
        result = assay_cli("run", "test_one.py", "-p", "local", "--plain", timeout=300)
        took = time.monotonic() - started
    assert result.code == 0, result
    assert "Traceback" not in result.stderr
    assert took < 200  # not the 600 s the silent host would take (a wide margin under load)


def test_ctrl_c_while_the_tests_load_leaves_nothing_on_the_host(
    sshd: SshServer, workdir: str, tmp_path: Path, remote_write: Callable[[str, str], Path]
) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import _assay_env

    marker = tmp_path / "marker"
    folder = str(sshd.home / workdir / "bin")
    slow = _WATCHING.format(user=sshd.user, folder=folder, marker=str(marker))
    remote_write("test_slow.py", slow.replace("class One", "time.sleep(120)\n\nclass One"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_slow.py", "-p", "remote", "--plain"],
        cwd=tmp_path,
        env=_assay_env(tmp_path, {"COLUMNS": "200"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        until = time.monotonic() + 60
        # The connection is up, the test file still loads (the marker is created, then
        # written: an empty one is read again).
        while not (marker.exists() and marker.read_text()):
            assert time.monotonic() < until and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert marker.read_text() == "seen"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    until = time.monotonic() + 10
    while processes_below(sshd, sshd.home / workdir):
        assert time.monotonic() < until, processes_below(sshd, sshd.home / workdir)
        time.sleep(0.1)


def test_a_slow_name_lookup_of_a_host_the_plan_does_not_use_holds_nothing_up(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    # A fault a real resolver shows only when broken: the lookup of one name takes 60 s.
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "sitecustomize.py").write_text(
        "import socket, time\n"
        "_real = socket.getaddrinfo\n"
        "def slow_lookup_fault(host, *args, **kwargs):\n"
        "    if host == 'slow.invalid':\n"
        "        time.sleep(600)\n"
        "    return _real(host, *args, **kwargs)\n"
        "socket.getaddrinfo = slow_lookup_fault\n"
    )
    write_config(tmp_path, sshd, workdir, host="slow.invalid")
    write(
        "test_here.py",
        """
        import time
        import assay

        time.sleep(3)  # long enough for the early connection to be looking the name up

        class Here(assay.Test):
            systems = ["ci:local"]
            command = "true"
        """,
    )
    started = time.monotonic()
    result = assay_cli(
        "run", "test_here.py", "--plain", env={"PYTHONPATH": str(faults)}, timeout=300
    )
    took = time.monotonic() - started
    assert result.code == 0, result
    assert "1 passed" in result.stdout
    assert took < 200  # neither the run nor the process's exit waits for the 600 s lookup


# A module of the run command that, as it is imported (before the tests load), waits for
# this run's agent connector on the host: written to the marker file.
_WATCHING_ON_IMPORT = _WATCHING.split("SEEN =")[0] + (
    "SEEN = _connector_seen({user!r}, {folder!r}, 20)\n"
    "with open({marker!r}, 'w') as fh:\n"
    "    fh.write('seen' if SEEN else 'not seen')\n"
)


def test_the_host_is_connected_to_while_the_run_imports_its_modules(
    sshd: SshServer, workdir: str, tmp_path: Path, remote_write: Callable[[str, str], Path]
) -> None:
    # The connection (its asyncssh import, the handshake, the agent's start on the host)
    # begins as soon as the command line and the config are read: the host's side of it
    # goes on while assay imports the session's modules, instead of after.
    import subprocess
    import sys

    from tests.conftest import _assay_env

    marker = tmp_path / "marker"
    folder = str(sshd.home / workdir / "bin")
    (tmp_path / "watch_on_import.py").write_text(
        _WATCHING_ON_IMPORT.format(user=sshd.user, folder=folder, marker=str(marker))
    )
    remote_write(
        "test_one.py",
        "import assay\n\nclass One(assay.Test):\n    command = 'echo hello'\n"
        "\n    def sanity(self, out):\n        out.expect('hello')\n",
    )
    code = (
        "import sys\nsys.path.insert(0, '.')\nfrom assay.commands import light\n"
        "light._MODULES['run'] = ('watch_on_import', *light._MODULES['run'])\n"
        "from assay.entry import main\n"
        "sys.exit(main(['run', 'test_one.py', '-p', 'remote', '--plain']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_assay_env(tmp_path, {"COLUMNS": "200"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out
    assert "1 passed" in out.stdout
    assert marker.read_text() == "seen"  # the connector ran before the modules were in


# Faults injected: the agent's greeting on a new connection held up 2 s (a slow host), and
# a probe of when the results database is opened: while the connection is being made, or
# after it was made.
_SLOW_GREETING = """
import asyncio
import assay.results.recorder as recorder
import assay.transports.ssh_keep as keep

_state = {{"connected": False}}
_greet = keep.SshConnection._greet

async def slow_greeting_fault(self, link):
    await asyncio.sleep(2)
    await _greet(self, link)
    _state["connected"] = True

keep.SshConnection._greet = slow_greeting_fault
_open = recorder.Recorder.open.__func__

def open_probe(cls, *args, **kwargs):
    with open({marker!r}, "a") as fh:
        fh.write("after\\n" if _state["connected"] else "while connecting\\n")
    return _open(cls, *args, **kwargs)

recorder.Recorder.open = classmethod(open_probe)
"""


def test_the_results_database_opens_while_the_host_is_connected_to(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    remote_write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    # Opening the database (and importing the sessions it lacks) waits on the disk; the
    # connection waits on the host: the one goes on while the other does.
    faults = tmp_path / "faults"
    faults.mkdir()
    marker = tmp_path / "marker"
    (faults / "sitecustomize.py").write_text(_SLOW_GREETING.format(marker=str(marker)))
    remote_write(
        "test_one.py",
        "import assay\n\nclass One(assay.Test):\n    command = 'echo hello'\n"
        "\n    def sanity(self, out):\n        out.expect('hello')\n",
    )
    for _ in range(2):  # the second run has a database to open before it starts
        result = assay_cli(
            "run", "test_one.py", "-p", "remote", "--plain", env={"PYTHONPATH": str(faults)}
        )
        assert result.code == 0, result
        assert "1 passed" in result.stdout
    assert marker.read_text().splitlines()[-1] == "while connecting"
