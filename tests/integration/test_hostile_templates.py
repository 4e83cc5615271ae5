"""A sweep's Jinja2 templates are rendered by the runner, not by the case's job: a template
must not reach Python's internals (a plain Jinja2 environment lets ``{{ cycler.__init__.
__globals__.os.system(...) }}`` run any code in the runner, with the privileges the job is
started without). Real runs of ``assay``."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_assay

SUITE = """\
[suite]
name = "s"
command = "cat t"

[[suite.sweep]]
name = "w"
n = [1, 2]
template = "t.j2"
output = "t"
"""


def test_a_template_cannot_run_code_in_the_runner(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    code = "cycler.__init__.__globals__.os.system('touch " + str(planted) + "')"
    (tmp_path / "t.j2").write_text("{{ " + code + " }}\n")
    (tmp_path / "s.suite.toml").write_text(SUITE)
    result = run_assay("run", "s.suite.toml", "--plain", cwd=tmp_path)
    assert not planted.exists()
    assert result.code == 1, result
    failure = result.case("s-w[n=1]")["failure"]
    assert failure["stage"] == "setup", failure
    assert failure["reason"].startswith("template t.j2: access to attribute '__init__'"), failure
    assert "not Python's internals" in failure["reason"], failure
    assert "Traceback" not in result.stdout + result.stderr


def test_templates_still_get_values_filters_and_loops(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text(
        "n={{ n }} {% for i in range(n) %}{{ i }}{% endfor %} {{ 'ab' | upper }}\n"
    )
    (tmp_path / "s.suite.toml").write_text(SUITE)
    result = run_assay("run", "s.suite.toml", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    outputs = sorted(p.read_text() for p in (tmp_path / ".assay").rglob("assay-run.out"))
    assert outputs == ["n=1 0 AB\n", "n=2 01 AB\n"], outputs


def test_an_include_through_a_link_out_of_the_suite_is_not_read(tmp_path: Path) -> None:
    """Rendered by the runner, an include read what the link led to with the runner's
    privileges, and put it into the case's input."""
    suite = tmp_path / "suite"
    suite.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET\n")
    (suite / "inc.txt").symlink_to(secret)
    (suite / "t.j2").write_text('x{% include "inc.txt" %}\n')
    (suite / "s.suite.toml").write_text(SUITE)
    result = run_assay("run", "s.suite.toml", "--plain", cwd=suite)
    assert result.code == 1, result
    failure = result.case("s-w[n=1]")["failure"]
    assert failure["stage"] == "setup", failure
    assert failure["reason"].startswith(
        f"template {suite}/inc.txt, which leads to {secret}, is outside the suite's directory"
    ), failure
    for path in (suite / ".assay").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"TOPSECRET" not in path.read_bytes(), path


def test_an_include_of_a_fifo_is_named_as_not_a_regular_file(tmp_path: Path) -> None:
    """Never opened (it would wait for a writer); before, jinja2 said only that the
    template was not found, naming the directory."""
    os.mkfifo(tmp_path / "inc.txt")
    (tmp_path / "t.j2").write_text('x{% include "inc.txt" %}\n')
    (tmp_path / "s.suite.toml").write_text(SUITE)
    result = run_assay("run", "s.suite.toml", "--plain", cwd=tmp_path, timeout=60)
    assert result.code == 1, result
    failure = result.case("s-w[n=1]")["failure"]
    assert failure["reason"] == f"template {tmp_path}/inc.txt: not a regular file", failure
