"""Every example in the README and docs/ is run: Python blocks as test files, TOML blocks as
configs, JSON report examples against the schema, and the README's quick-start command."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from assay.config import parse_config
from assay.define import suite_schema
from assay.results.report import schema
from assay.validation import convert, load_toml
from tests.conftest import ROOT, run_assay

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def _blocks(language: str) -> list[tuple[str, Path, int, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc.relative_to(ROOT)}:{line}", doc, line, match.group(2)))
    return found


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
    result = run_assay("run", str(test_file), "--plain", cwd=tmp_path, timeout=300)
    assert result.code == 0, f"{where}\n{result}"
    assert result.report["summary"]["passed"] >= 1


@pytest.mark.parametrize(("where", "doc", "line", "code"), _params("toml"))
def test_toml_example_is_a_valid_config_or_suite(where, doc, line, code):
    if code.lstrip().startswith(("[suite]", "# A bring")):
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


def _console_pages() -> list[object]:
    pages = sorted({doc for _, doc, _, _ in _blocks("console")})
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
