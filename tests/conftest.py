"""Shared fixtures: run the real ``assay`` command in a scratch directory and read its report."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    """What one ``assay`` invocation did."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    cwd: Path

    @property
    def report(self) -> dict[str, Any]:
        """The JSON report of the latest session under ``cwd/.assay``."""
        return json.loads((self.cwd / ".assay" / "latest" / "report.json").read_text())

    def case(self, prefix: str) -> dict[str, Any]:
        """The one case of the report whose name starts with ``prefix``."""
        found = [c for c in self.report["cases"] if c["name"].startswith(prefix)]
        assert len(found) == 1, f"{len(found)} cases start with {prefix!r}: {found}"
        return found[0]

    def __str__(self) -> str:
        return (
            f"assay {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.stdout}"
            f"--- stderr\n{self.stderr}"
        )


def write_tree(root: Path, files: dict[str, str | bytes], exe: tuple[str, ...] = ()) -> Path:
    """Write ``files`` (relative path -> text or bytes) under ``root``; paths in ``exe`` are
    made executable. Returns ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        if rel in exe:
            path.chmod(0o755)
    return root


TINY_SUITE = """\
[suite]
name = "tiny"
cases = "cases/*"
command = "cp in.txt out.txt"

[suite.compare]
files = ["out.txt"]
"""


def write_tiny_suite(root: Path, names: list[str]) -> Path:
    """``root/tiny.suite.toml`` (:data:`TINY_SUITE`) and its cases ``names``, each an
    ``in.txt`` and the ``expected/out.txt`` its copy must equal; the suite file."""
    for name in names:
        case = root / "cases" / name
        (case / "expected").mkdir(parents=True)
        (case / "in.txt").write_text(f"{name}\n")
        (case / "expected" / "out.txt").write_text(f"{name}\n")
    suite = root / "tiny.suite.toml"
    suite.write_text(TINY_SUITE)
    return suite


def _assay_env(cwd: Path, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without a config override, with a store of the test's own
    (unless ``extra`` says otherwise)."""
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_CONFIG"}
    return {**env, "ASSAY_STORE": str(cwd / ".store"), **extra}


def run_assay(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> CliResult:
    """Run ``python -m assay ARGS`` in ``cwd`` (a real process, as a user would)."""
    full_env = _assay_env(cwd, {"COLUMNS": "200", **(env or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "assay", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(tuple(args), proc.returncode, proc.stdout, proc.stderr, cwd)


@pytest.fixture
def assay_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """``assay_cli("run", "tests/")`` runs assay in a fresh directory (``tmp_path``)."""

    def run(*args: str, **kw: Any) -> CliResult:
        kw.setdefault("cwd", tmp_path)
        return run_assay(*args, **kw)

    return run


@pytest.fixture
def stat_spy(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """``looked = stat_spy()``: every path ``os.stat`` is called with from then on, in a
    list that grows (the real stat answers)."""

    def start() -> list[str]:
        looked: list[str] = []
        real_stat = os.stat

        def spy(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            looked.append(os.fspath(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", spy)
        return looked

    return start


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write("test_x.py", source)`` writes a dedented file under ``tmp_path``."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write_file


def run_on_terminal(
    *args: str, cwd: Path, timeout: float = 60, columns: int = 120, lines: int = 40
) -> tuple[int, str]:
    """Run ``python -m assay ARGS`` on a pseudo-terminal (the live display) of ``columns``
    by ``lines``; its exit code and everything it drew."""
    leader, follower = pty.openpty()
    size = {"COLUMNS": str(columns), "LINES": str(lines), "TERM": "xterm-256color"}
    env = _assay_env(cwd, size)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", *args],
        cwd=cwd,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=timeout)
    os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


# --- PostgreSQL (scripts/postgres-ci up prints the URL; scripts/test-all exports it) -------


def postgres_server() -> str | None:
    """The URL of the test server, or None (the test is skipped, unless CI requires it)."""
    url = os.environ.get("ASSAY_TEST_POSTGRES")
    if url:
        return url
    if os.environ.get("ASSAY_REQUIRE_POSTGRES") == "1":
        pytest.fail(
            "ASSAY_REQUIRE_POSTGRES=1 but ASSAY_TEST_POSTGRES is not set: start the server "
            "with scripts/postgres-ci up and export the URL it prints"
        )
    pytest.skip("no PostgreSQL server (export ASSAY_TEST_POSTGRES=$(scripts/postgres-ci up))")


@pytest.fixture
def postgres_url() -> Any:
    """A URL of a fresh, empty database on the test server, dropped afterwards."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    server = postgres_server()
    assert server is not None
    name = f"assay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def results_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a results database goes: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "results.sqlite")
    return str(request.getfixturevalue("postgres_url"))


def run_python(code: str, *args: str) -> str:
    """Run ``code`` (dedented) in a fresh interpreter with ``args``; its stdout (its
    failure fails the test)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
