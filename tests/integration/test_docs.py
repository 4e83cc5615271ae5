"""Every example in the README and docs/ is run: Python blocks as test files, TOML blocks as
configs, JSON report examples against the schema, and the README's quick-start command."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import jsonschema
import pytest

from assay.config import parse_config
from assay.define import reffile, suite_schema
from assay.results.report import schema
from assay.validation import convert, load_toml
from tests.conftest import ROOT, run_assay
from tests.integration import docs_output

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_DOCS = sorted((ROOT / "examples").glob("*/README.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


PAIRED = "# assay.toml for the Python example below"
"""A TOML block that starts so is the config the next Python block runs with."""


def _blocks(language: str) -> list[tuple[str, Path, int, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc.relative_to(ROOT)}:{line}", doc, line, match.group(2)))
    return found


def _config_for(doc: Path, line: int) -> str | None:
    """The paired config of the Python block at ``line`` of ``doc``, if it has one."""
    text = doc.read_text()
    config = None
    for match in FENCE.finditer(text):
        if text.count("\n", 0, match.start()) + 1 >= line:
            break
        if match.group(1) == "toml":
            config = match.group(2) if match.group(2).startswith(PAIRED) else None
        elif match.group(1) == "python":
            config = None
    return config


def _skip_without_tools(config: str) -> None:
    """A paired config that needs Lmod or Open MPI: scripts/test-all installs both (and
    then requires them); elsewhere the example is skipped."""
    needs = [
        ("modules", Path("/usr/share/lmod/lmod/init/bash").exists(), "ASSAY_REQUIRE_LMOD"),
        ("mpirun", shutil.which("mpirun") is not None, "ASSAY_REQUIRE_MPI"),
    ]
    for word, present, required in needs:
        if word in config and not present and not os.environ.get(required):
            pytest.skip(f"needs {word}: not installed here (scripts/test-all installs it)")


def test_the_docs_have_examples():
    assert len(_blocks("python")) >= 7
    assert len(_blocks("toml")) >= 4


def _params(language: str) -> list[object]:
    return [pytest.param(*block, id=block[0]) for block in _blocks(language)]


FILE_MARK = re.compile(r"\A# file: (\S+)\n")


def _script(code: str) -> bool:
    """A block marked ``# file: NAME`` whose name is no test file: a script that a console
    example of its page runs."""
    named = FILE_MARK.match(code)
    return bool(named) and not named.group(1).startswith("test_")


@pytest.mark.parametrize(("where", "doc", "line", "code"), _params("python"))
def test_python_example_runs_and_passes(where, doc, line, code, tmp_path):
    if _script(code):
        pytest.skip("a script: run by its page's console examples")
    # Place the block where its document is, so relative sources resolve as they read.
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    folder = tmp_path / doc.parent.relative_to(ROOT)
    folder.mkdir(parents=True, exist_ok=True)
    test_file = folder / f"test_block_{line}.py"
    test_file.write_text(code)
    config = _config_for(doc, line)
    if config is not None:
        _skip_without_tools(config)
        (tmp_path / "assay.toml").write_text(config)
    result = run_assay("run", str(test_file), "--plain", cwd=tmp_path, timeout=300)
    assert result.code == 0, f"{where}\n{result}"
    assert result.report["summary"]["passed"] >= 1


@pytest.mark.parametrize(("where", "doc", "line", "code"), _params("toml"))
def test_toml_example_is_a_valid_config_or_suite(where, doc, line, code):
    if code.lstrip().startswith("# Performance references"):  # NAME.references.toml
        tables = load_toml(code)
        assert tables
        for patterns in tables.values():
            for metrics in patterns.values():
                for value in metrics.values():
                    ref, wrong = reffile.entry(value)
                    assert ref is not None and not wrong, f"{where}: {value}: {wrong}"
    elif code.lstrip().startswith(("[suite]", "# A bring")):
        body = convert(load_toml(code), suite_schema.File).suite
        assert body.command
    else:
        config = parse_config(code, where)
        assert config.systems


# Console examples: each page's ```console blocks run in order, in one directory where the
# page's ```python blocks marked "# file: NAME" were written. A "$ " line is a command (it
# must exit 0, or the N of a trailing "# exit N"); the lines after it are what it printed,
# and must be what it prints, but for session ids, times, numbers and spacing.
_SESSION_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def _normal(line: str) -> str:
    line = _TIME.sub("TIME", _SESSION_ID.sub("SESSION", line))
    return " ".join(_NUMBER.sub("N", line).split())


# Pages whose console blocks need more than a directory (docs/remote.md: an SSH host) and
# are run by a test of their own (test_the_remote_doc_runs_against_the_ci_ssh_server).
_OWN_TEST = {ROOT / "docs" / "remote.md"}


def _console_pages() -> list[object]:
    pages = sorted({doc for _, doc, _, _ in _blocks("console")} - _OWN_TEST)
    return [pytest.param(doc, id=str(doc.relative_to(ROOT))) for doc in pages]


@pytest.mark.parametrize("doc", _console_pages())
def test_console_examples_run_and_print_what_the_page_shows(doc, tmp_path):
    import os
    import sys

    for _, block_doc, _, code in _blocks("python"):
        named = FILE_MARK.match(code)
        if block_doc == doc and named:
            (tmp_path / named.group(1)).write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_CONFIG"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env |= {"ASSAY_STORE": str(tmp_path / ".store"), "COLUMNS": "200"}
    ran = 0
    for where, block_doc, _, code in _blocks("console"):
        if block_doc != doc:
            continue
        steps: list[tuple[str, list[str]]] = []
        for text in code.splitlines():
            if text.startswith("$ "):
                steps.append((text[2:], []))
            elif steps:
                steps[-1][1].append(text)
        for command, shown in steps:
            line, _, expect = command.partition("  # exit ")
            proc = subprocess.run(
                ["bash", "-c", line],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
            want = int(expect) if expect else 0
            assert proc.returncode == want, f"{where}: $ {command}\n{proc.stdout}{proc.stderr}"
            printed = [_normal(t) for t in proc.stdout.splitlines()]
            for text in shown:
                if text.strip():
                    assert _normal(text) in printed, (
                        f"{where}: $ {command}: {text!r}\n{proc.stdout}"
                    )
            ran += 1
    assert ran


def test_json_report_example_validates():
    examples = [json.loads(code) for _, _, _, code in _blocks("json")]
    reports = [e for e in examples if e.get("schema") == "assay-report/1"]
    assert reports
    for report in reports:
        jsonschema.validate(report, schema())


# A fresh venv and a pip install of the project, then the examples: minutes on a loaded
# machine (5 at load 14), past the suite's 300 s per test; its own command's bound is 600 s.
@pytest.mark.timeout(900)
def test_readme_quick_start_command_works_from_a_clean_copy(tmp_path):
    """The README's first command, verbatim, in a copy of the tracked files."""
    first = _blocks("bash")[0]
    assert first[0].startswith("README.md:"), "the README must open with the quick start"
    command = first[3].strip()
    assert "assay run examples/" in command
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    copy = tmp_path / "clone"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    proc = subprocess.run(
        ["bash", "-c", command], cwd=copy, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "passed, 0 failed" in proc.stdout


def test_the_remote_doc_runs_against_the_ci_ssh_server(tmp_path: Path) -> None:
    """docs/remote.md's config, its `remote` partition pointed at the CI sshd (the only
    change: the `ssh = {...}` line), and every command of its console block, verbatim."""
    from tests.remote.conftest import _server

    server = _server()
    if isinstance(server, str):
        if os.environ.get("ASSAY_REQUIRE_SSH") == "1":
            pytest.fail(f"ASSAY_REQUIRE_SSH=1 but {server}")
        pytest.skip(server)
    doc = ROOT / "docs" / "remote.md"
    (config,) = [c for w, _, _, c in _blocks("toml") if w.startswith("docs/remote.md:")]
    (console,) = [c for w, _, _, c in _blocks("console") if w.startswith("docs/remote.md:")]
    workdir = f".assay-test-{secrets.token_hex(6)}"
    line = next(x for x in config.splitlines() if "ws1.example.org" in x)
    (tmp_path / "assay.toml").write_text(config.replace(line, f"ssh = {server.table(workdir)}"))
    for name in ("hello", "byo-solver", "deps"):
        shutil.copytree(ROOT / "examples" / name, tmp_path / "examples" / name)
    commands = [x[2:] for x in console.splitlines() if x.startswith("$ ")]
    assert len(commands) >= 3 and doc.is_file()
    try:
        for command in commands:
            args = shlex.split(command)
            assert args[0] == "assay"
            extra = ["--plain"] if args[1] == "run" else []
            if args[1:3] == ["store", "push"]:
                extra = ["-q"]  # no progress bar in a log
            result = run_assay(*args[1:], *extra, cwd=tmp_path)
            assert result.code == 0, f"{command}\n{result}"
            if args[1] == "run":
                assert result.report["summary"]["failed"] == 0
                assert {c["partition"] for c in result.report["cases"]} == {"remote"}
        assert (server.home / workdir / "store").is_dir()
    finally:
        path = server.home / workdir
        assert path.parent == server.home and path.name.startswith(".assay-test-")
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


OUTPUTS = docs_output.examples(DOCS + EXAMPLE_DOCS)


def test_the_docs_show_real_failure_output():
    assert any("case(s) failed" in e.block and "^" in e.block for e in OUTPUTS)


@pytest.mark.parametrize("example", [pytest.param(e, id=e.where) for e in OUTPUTS])
def test_output_shown_in_the_docs_is_what_assay_prints(example, tmp_path):
    """Output in the docs is made by real runs (tests/integration/docs_output.py); after a
    change, `python -m tests.integration.docs_output` writes it again."""
    assert docs_output.render(example, tmp_path) == example.block, example.where


@pytest.mark.parametrize(("where", "doc", "line", "code"), _params("sh"))
def test_shell_example_runs(where, doc, line, code, tmp_path):
    """``sh`` blocks are command lines a user types: run whole, with ``set -e``, assay on the
    PATH, a fresh store, and the S3 server of ``scripts/s3-ci`` ($BUCKET: a fresh prefix)."""
    from tests.integration.test_store_s3 import _settings

    s3 = _settings()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ASSAY_CONFIG"))},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "ASSAY_STORE": str(tmp_path / ".store"),
        "AWS_ACCESS_KEY_ID": s3["ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": s3["SECRET_KEY"],
        "AWS_ENDPOINT_URL_S3": s3["ENDPOINT"],
        "BUCKET": f"{s3['BUCKET']}/docs-{uuid.uuid4().hex[:12]}",
    }
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"{where}\n{proc.stdout}\n{proc.stderr}"
    if "--diff" in code:
        assert "~ lib/data.txt" in proc.stdout
    if "sends 3 objects" in code:
        assert "(3 of " in proc.stdout, proc.stdout
