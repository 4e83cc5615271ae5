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
