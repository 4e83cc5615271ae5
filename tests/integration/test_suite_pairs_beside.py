"""Pairs with files beside each input run for real: examples/options-pairs, markdown2's
layout (x.text, x.html, and for some cases x.opts and x.tags)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_assay

EXAMPLE = ROOT / "examples" / "options-pairs"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    work = tmp_path / "options-pairs"
    shutil.copytree(EXAMPLE, work, symlinks=True)
    return work


def _verdicts(result) -> dict[str, str]:
    return {c["name"].split(" @")[0]: c["status"] for c in result.report["cases"]}


def test_each_input_runs_with_its_options_and_tags(example):
    result = run_assay("run", "options.suite.toml", "--plain", cwd=example)
    assert result.code == 0, result
    assert _verdicts(result) == {
        "options[case=breaks]": "passed",  # breaks.opts reached the converter
        "options[case=syntax]": "skipped",  # syntax.tags did
        "options[case=plain]": "passed",
        "options[case=safe]": "passed",  # safe.opts did
    }
    skipped = result.case("options[case=syntax]")
    assert skipped["skip_reason"].endswith("requires frobnicate-highlighter")


def test_the_stage_dir_holds_the_input_and_its_own_files_beside_it_alone(example):
    suite = example / "options.suite.toml"
    text = suite.read_text().replace("> {output}", "> {output}; ls > listing")
    suite.write_text(text.replace('build = "bin"', 'build = "bin"\nkeep_files = ["listing"]'))
    result = run_assay("run", "options.suite.toml", "--plain", "-n", "breaks|plain", cwd=example)
    assert result.code == 0, result
    listings = sorted((example / ".assay" / "runs").glob("*/output/options-*/listing"))
    found = {
        frozenset(n for n in p.read_text().split() if not n.startswith("assay-")) for p in listings
    }
    assert found == {
        frozenset({"breaks.text", "breaks.opts", "breaks.html", "listing"}),
        frozenset({"plain.text", "plain.html", "listing"}),
    }


def test_a_file_beside_is_read_only_as_every_input(example):
    suite = example / "options.suite.toml"
    suite.write_text(suite.read_text().replace("> {output}", "> {output} && echo x >> safe.opts"))
    result = run_assay("run", "options.suite.toml", "--plain", "-n", "safe", cwd=example)
    assert result.code == 1, result
    reason = result.case("options[case=safe]")["failure"]["reason"]
    assert "'safe.opts' is a staged input, read-only" in reason
    assert (example / "tm-cases" / "safe.opts").read_text() == "safe_mode\n"


def test_a_file_beside_declared_writable_gets_a_private_copy(example):
    suite = example / "options.suite.toml"
    text = suite.read_text().replace("> {output}", "> {output} && echo x >> safe.opts")
    suite.write_text(text.replace('build = "bin"', 'build = "bin"\nwritable = ["*.opts"]'))
    result = run_assay("run", "options.suite.toml", "--plain", "-n", "safe", cwd=example)
    assert result.code == 0, result
    assert (example / "tm-cases" / "safe.opts").read_text() == "safe_mode\n"
