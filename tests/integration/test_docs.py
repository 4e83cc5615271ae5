"""Every example in the README and docs/ is run: Python blocks as test files, TOML blocks as
configs, JSON report examples against the schema, and the README's quick-start command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
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


@pytest.mark.parametrize(("where", "doc", "line", "code"), _params("python"))
def test_python_example_runs_and_passes(where, doc, line, code, tmp_path):
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
