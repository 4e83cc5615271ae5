"""A run whose SSH connection drops, against the real sshd behind a forwarder the test cuts:
the log says the host is away and when it is back, and a host that stays away is tried until
``detach_timeout`` has passed (its agent keeps the jobs that long), not a backoff step less."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import _assay_env
from tests.remote.conftest import SshServer, write_config
from tests.remote.proxy import CountingProxy, counting_proxy

pytestmark = [pytest.mark.ssh]

WHERE = "partition ci:remote (127.0.0.1)"


def _proxied(
    sshd: SshServer, tmp_path: Path, workdir: str, proxy: CountingProxy, **ssh: object
) -> None:
    """assay.toml whose partition ``remote`` reaches the sshd through ``proxy``."""
    key = Path(sshd.known_hosts).read_text().split()[1:3]
    known = tmp_path / "known_hosts_proxy"
    known.write_text(f"[127.0.0.1]:{proxy.port} {key[0]} {key[1]}\n")
    write_config(tmp_path, sshd, workdir, port=proxy.port, known_hosts=str(known), **ssh)


def _run_until_started(
    tmp_path: Path, write: Callable[[str, str], Path], starts: Path, command: str
) -> subprocess.Popen[str]:
    """``assay run`` of two cases running ``command``, once both have started on the host."""
    write(
        "test_away.py",
        f"""
        import assay

        class Away(assay.Test):
            i = assay.parameter(range(2))
            command = "echo {{i}} >> {starts}; {command}"

            def sanity(self, out):
                out.expect("done")
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_away.py", "-p", "remote", "--plain"],
        cwd=tmp_path,
        env=_assay_env(tmp_path, {"COLUMNS": "300"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (starts.exists() and len(starts.read_text().split()) == 2):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("the two cases did not start: " + "".join(proc.communicate()))
        time.sleep(0.1)
    return proc


@pytest.mark.slow
def test_a_dropped_connection_is_told_and_so_is_its_return(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path]
) -> None:
    starts = sshd.home / workdir / "starts"
    with counting_proxy(sshd.host, sshd.port) as proxy:
        _proxied(sshd, tmp_path, workdir, proxy)
        proc = _run_until_started(tmp_path, write, starts, "sleep 3; echo done")
        try:
            proxy.cut()  # the same host answers again at once
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    lost = [i for i, x in enumerate(lines) if x.startswith("[ LOST] ")]
    back = [i for i, x in enumerate(lines) if x.startswith("[ BACK] ")]
    # Before, neither line: the run said nothing while it waited for the host.
    assert len(lost) == 1 and len(back) == 1 and lost[0] < back[0], out
    assert lines[lost[0]] == (
        f"[ LOST] connection to {WHERE} lost: trying again for up to 30s "
        "(the jobs there keep running)"
    )
    assert lines[back[0]].startswith(f"[ BACK] connection to {WHERE} made again after ")
    assert sorted(starts.read_text().split()) == ["0", "1"]  # nothing started twice


@pytest.mark.slow
def test_a_host_that_stays_away_is_tried_until_detach_timeout(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    starts = sshd.home / workdir / "starts"
    with counting_proxy(sshd.host, sshd.port) as proxy:
        _proxied(sshd, tmp_path, workdir, proxy, detach_timeout="6s")
        proc = _run_until_started(tmp_path, write, starts, "sleep 60; echo done")
        try:
            cut = time.monotonic()
            proxy.cut(("127.0.0.1", closed))  # every try from now on is turned away
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        tries = [t - cut for t in proxy.opened if t > cut]
    assert proc.returncode == 1, out + err
    assert f"[ LOST] connection to {WHERE} lost: trying again for up to 6s" in out
    assert "[ BACK]" not in out
    assert "lost the connection to 127.0.0.1 and could not make it again within 6s" in out
    # The last try comes once the 6 s have passed since the drop (which assay noticed after
    # the cut): before, it came at the last backoff step that fit, 3.5 s after, and the run
    # gave up while the host's agent still kept the jobs. (A lower bound: a slow machine
    # only makes the tries later.)
    assert tries and tries[-1] >= 6.0, tries


@pytest.mark.slow
def test_cases_the_lost_connection_failed_run_again_on_resume(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path]
) -> None:
    """A case whose job finished on the host while assay was away, and one still running
    when assay gave the host up: neither is a finished result of the session's, so
    ``--resume`` runs both again once the host is back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    starts = sshd.home / workdir / "starts"
    with counting_proxy(sshd.host, sshd.port) as proxy:
        _proxied(sshd, tmp_path, workdir, proxy, detach_timeout="3s")
        # Case 0 ends while the host is away (its exit news is lost with the connection);
        # case 1 still runs when assay gives up. On resume both are quick.
        proc = _run_until_started(
            tmp_path,
            write,
            starts,
            f"if [ $(wc -l < {starts}) -gt 2 ]; then echo done; "
            "elif [ {i} = 0 ]; then sleep 1; echo done; else sleep 60; echo done; fi",
        )
        try:
            proxy.cut(("127.0.0.1", closed))
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 1, out + err
        assert "could not make it again within 3s" in out, out
        # Before: FAIL, and kept as the cases' results. Now aborted, with the way on.
        assert "[ABORT] Away[i=0]" in out and "[ABORT] Away[i=1]" in out, out
        assert "  `assay run --resume` runs them all, in this session" in out, out
        proxy.cut((sshd.host, sshd.port))  # the host is back
        resumed = subprocess.run(
            [sys.executable, "-m", "assay", "run", "--resume", "--plain"],
            cwd=tmp_path,
            env=_assay_env(tmp_path, {"COLUMNS": "300"}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    # Before, the resumed run kept both failures (the connection's, not the cases') and ran
    # nothing: a case that had passed on the host was reported failed for good.
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(starts.read_text().split()) == 4, resumed.stdout  # each ran again, once
