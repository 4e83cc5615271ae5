"""``assay store push`` to a real OpenSSH server (scripts/sshd-ci) through the light path of
:mod:`assay.entry`: ssh starts before the store is loaded, and what goes wrong after it
started ends it and is reported as the full command line reports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from assay.store import Store
from tests.conftest import write_tree
from tests.integration.test_store_ssh import remote_dir, remote_path, server  # noqa: F401

# A run of `assay` (assay.entry.main, as the console script calls it) that notes, in order,
# every import and every process started (audit events), and writes them out at exit.
_AUDITED = textwrap.dedent(
    """\
    import atexit, json, sys
    events = []
    def hook(event, args):
        if event == "import":
            events.append(["import", args[0]])
        elif event == "subprocess.Popen":
            events.append(["spawn", [str(a) for a in args[1]]])
    sys.addaudithook(hook)
    out = sys.argv[1]
    atexit.register(lambda: open(out, "w").write(json.dumps(events)))
    sys.argv = ["assay", *sys.argv[2:]]
    from assay.entry import main
    sys.exit(main())
    """
)


def _audited(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, list]:
    events = tmp_path / "events.json"
    proc = subprocess.run(
        [sys.executable, "-c", _AUDITED, str(events), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr, json.loads(events.read_text())


def _first(events: list, kind: str, match: str) -> int:
    for index, (event, what) in enumerate(events):
        if event == kind and (what == match if kind == "import" else match in " ".join(what)):
            return index
    raise AssertionError(f"no {kind} {match!r} in {len(events)} events")


def test_push_starts_ssh_before_it_loads_the_store(server, remote_dir, tmp_path):  # noqa: F811
    build = write_tree(tmp_path / "build", {f"d/f{i}.txt": f"file {i}\n" for i in range(5)})
    env = {"ASSAY_STORE": str(tmp_path / "store")}
    Store(tmp_path / "store").put("solver", build)
    url = f"ssh://assay-ci/{remote_path(server, remote_dir)}"

    code, out, events = _audited(
        tmp_path, "store", "push", url, "solver", "--ssh-config", server.config, env=env
    )

    assert code == 0, out
    assert "pushed solver@1 to assay-ci:" in out
    ssh = _first(events, "spawn", "assay-ci")
    for heavy in ("assay.store.objects", "blake3", "assay.store.transfer"):
        assert ssh < _first(events, "import", heavy), heavy
    assert ["import", "assay.config"] not in events  # an ssh:// URL needs no config
    # Nor the archive code (tarfile, zipfile, the format checks): a push reads no archive.
    assert ["import", "assay.archives"] not in events
    assert (
        Store(remote_dir).resolve("solver").tree == Store(tmp_path / "store").resolve("solver").tree
    )


def test_a_wrong_version_after_ssh_started_ends_it_with_one_line(server, remote_dir, tmp_path):  # noqa: F811
    build = write_tree(tmp_path / "build", {"f.txt": "x\n"})
    Store(tmp_path / "store").put("solver", build)
    # ssh through a wrapper that notes its pid (the real ssh replaces it: exec)
    pids = tmp_path / "ssh.pids"
    wrapper = tmp_path / "ssh-noting-pid"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> {pids}\nexec ssh "$@"\n')
    wrapper.chmod(0o755)
    env = {"ASSAY_STORE": str(tmp_path / "store"), "ASSAY_SSH": str(wrapper)}
    url = f"ssh://assay-ci/{remote_path(server, remote_dir)}"

    code, out, events = _audited(
        tmp_path, "store", "push", url, "solver@7", "--ssh-config", server.config, env=env
    )

    assert code == 2, out
    assert out.strip() == "assay: error: solver has no version 7; versions: 1", out
    assert "Traceback" not in out
    _first(events, "spawn", "ssh-noting-pid")  # it had started
    for pid in pids.read_text().split():  # and it is gone (assay waited for it)
        assert not Path(f"/proc/{pid}").exists(), pid
    # nothing was recorded there (the agent may have made the empty store before it ended)
    assert not list((remote_dir / "names").rglob("*")) if remote_dir.exists() else True
