"""A case whose command says "skipped" by its exit code (``skip_exit_codes``, automake's
77): real runs of a real suite and a Python test (``assay run``), and what the report,
junit, ``--failed``, the exit code, dependents and history make of such a case."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import jsonschema

from assay.results.report import schema
from tests.conftest import CliResult, write_tree

Cli = Callable[..., CliResult]

# Exits with the code in.txt names; says why on stderr, as automake's tests do. Its output
# never matches expected/ for a code other than 0 (a skip must not compare it).
RUNNER = """#!/bin/sh
code=$(cat in.txt)
if [ "$code" = 0 ]; then echo ok > out.txt; else echo broken > out.txt; fi
echo "checking prerequisites" >&2
[ "$code" = 77 ] && echo "requires python3-yaml" >&2
[ "$code" = 77 ] && echo "" >&2
exit "$code"
"""

SUITE = """\
[suite]
name = "auto"
cases = "cases/*"
command = "{root}/run.sh"
{extra}
[suite.compare]
files = ["out.txt"]
"""


def _suite(root: Path, extra: str = "", codes: tuple[int, ...] = (0, 1, 77)) -> None:
    files: dict[str, str] = {"run.sh": RUNNER}
    for code in codes:
        files[f"cases/c{code}/in.txt"] = f"{code}\n"
        files[f"cases/c{code}/expected/out.txt"] = "ok\n"
    write_tree(root, files, exe=("run.sh",))
    (root / "auto.suite.toml").write_text(SUITE.format(root=root, extra=extra))


def test_a_case_that_exits_77_is_skipped_with_its_reason(tmp_path, assay_cli: Cli):
    _suite(tmp_path, "skip_exit_codes = [77]")
    result = assay_cli("run", ".", "--plain", "--junit", "junit.xml")
    report = result.report
    assert [(c["name"].split(" @")[0], c["status"]) for c in report["cases"]] == [
        ("auto[case=c0]", "passed"),
        ("auto[case=c1]", "failed"),
        ("auto[case=c77]", "skipped"),
    ]
    skipped = result.case("auto[case=c77]")
    # Its last line said why; its outputs (which differ) were not compared.
    assert skipped["skip_reason"] == (
        "the command exited 77 (skip_exit_codes): requires python3-yaml"
    )
    assert skipped["failure"] is None and skipped["comparisons"] == []
    assert skipped["exit_code"] == 77
    # Its files are kept, as a failed case's are: they say why it skipped.
    kept = Path(skipped["output_dir"])
    assert "requires python3-yaml" in (kept / "assay-run.err").read_text()
    assert skipped["stage_dir"] is not None
    assert (Path(skipped["stage_dir"]) / "out.txt").read_text() == "broken\n"
    assert result.case("auto[case=c0]")["stage_dir"] is None  # (a passed case's is not kept)
    assert report["summary"]["skipped"] == 1 and report["summary"]["failed"] == 1
    jsonschema.validate(report, schema())
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    (element,) = junit.iter("skipped")
    # (The text: Jenkins' JUnit schema, which the report validates against, allows no
    # attribute on <skipped>.)
    assert element.text == skipped["skip_reason"]
    # --failed reruns the failure only.
    again = assay_cli("run", ".", "--plain", "--failed")
    assert [c["name"].split(" @")[0] for c in again.report["cases"]] == ["auto[case=c1]"]


def test_a_skipped_case_does_not_fail_the_run(tmp_path, assay_cli: Cli):
    _suite(tmp_path, "skip_exit_codes = [77]", codes=(0, 77))
    result = assay_cli("run", ".", "--plain", "--exit-first")
    assert result.code == 0, result
    assert result.case("auto[case=c77]")["status"] == "skipped"
    assert result.case("auto[case=c0]")["status"] == "passed"


def test_without_skip_exit_codes_77_fails_with_a_hint(tmp_path, assay_cli: Cli):
    _suite(tmp_path, codes=(1, 77))
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1
    hint = (
        ' (77 means "skipped" in automake-style suites: set skip_exit_codes = [77] if that '
        "is what it means here)"
    )
    assert result.case("auto[case=c77]")["failure"]["reason"] == (
        "exit code 77 (expected exit code 0)" + hint
    )
    # Only for 77.
    assert result.case("auto[case=c1]")["failure"]["reason"] == (
        "exit code 1 (expected exit code 0)"
    )


def test_dash_s_sets_skip_exit_codes(tmp_path, assay_cli: Cli):
    _suite(tmp_path, codes=(0, 77))
    result = assay_cli("run", ".", "--plain", "-S", "skip_exit_codes=77")
    assert result.code == 0, result
    assert result.case("auto[case=c77]")["status"] == "skipped"


def test_a_code_in_both_keys_is_refused(tmp_path, assay_cli: Cli):
    _suite(tmp_path, "exit_codes = [0, 77]\nskip_exit_codes = [77]")
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1
    assert (
        "suite.skip_exit_codes: exit code 77 is in both suite.exit_codes and "
        "suite.skip_exit_codes: a run that exits with it would both pass and skip"
    ) in result.stdout + result.stderr
    assert result.report["cases"] == []


def test_a_group_whose_exit_codes_take_the_suites_skip_code_is_refused(tmp_path, assay_cli: Cli):
    _suite(
        tmp_path, 'skip_exit_codes = [77]\n[[suite.groups]]\ncases = ["c1"]\nexit_codes = [0, 77]'
    )
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1
    assert (
        "exit code 77 is in both suite.groups[0].exit_codes and suite.skip_exit_codes"
    ) in result.stdout + result.stderr, result


def test_zero_is_refused(tmp_path, assay_cli: Cli):
    _suite(tmp_path, "skip_exit_codes = [0]")
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1
    assert "suite.skip_exit_codes: holds 0, the exit code of a run that passes" in (
        result.stdout + result.stderr
    )


def test_a_group_sets_skip_exit_codes(tmp_path, assay_cli: Cli):
    _suite(
        tmp_path,
        '[[suite.groups]]\ncases = ["c77"]\nskip_exit_codes = [77]\n',
        codes=(77,),
    )
    result = assay_cli("run", ".", "--plain")
    assert result.case("auto[case=c77]")["status"] == "skipped", result


PYTEST = """\
import assay


class Prereq(assay.Test):
    command = "echo 'checking' >&2; echo 'needs a GPU' >&2; echo 'rate=5'; exit 77"
    skip_exit_codes = [77]

    def sanity(self, out):
        raise AssertionError("sanity was called")

    @assay.metric("op/s")
    def rate(self, out):
        raise AssertionError("the metric was read")


class After(assay.Test):
    command = "true"
    depends_on = ["Prereq"]


class PerVariant(assay.Test):
    code = assay.parameter([0, 5])
    command = "exit {code}"

    @assay.variant_fields
    def by_code(code):
        return {"skip_exit_codes": [5]} if code == 5 else {}
"""


def test_a_python_test_with_the_field_and_its_dependent(tmp_path, assay_cli: Cli):
    write_tree(tmp_path, {"tests/test_prereq.py": PYTEST})
    result = assay_cli("run", "tests", "--plain")
    assert result.code == 0, result
    prereq = result.case("Prereq")
    assert prereq["status"] == "skipped", prereq
    # Neither sanity nor the metric ran (either would have failed it).
    assert prereq["skip_reason"] == "the command exited 77 (skip_exit_codes): needs a GPU"
    assert prereq["failure"] is None and prereq["metrics"] == []
    # A dependent of a skipped case is skipped, as for any other skip of its dependency.
    after = result.case("After")
    assert after["status"] == "skipped"
    assert after["skip_reason"].startswith("dependency failed: Prereq")
    # Per variant: the variant that exits 5 skips, the one that exits 0 passes.
    assert result.case("PerVariant[code=5]")["status"] == "skipped"
    assert result.case("PerVariant[code=0]")["status"] == "passed"


def test_a_failure_now_skipped_is_a_skip_in_history_compare_and_failed(tmp_path, assay_cli: Cli):
    """Failing in one session (77 without skip_exit_codes), skipped by its command in the
    next: its last verdict is the skip (--failed does not rerun it), and compare shows it
    as skipped, not fixed."""
    _suite(tmp_path, codes=(0, 77))
    first = assay_cli("run", ".", "--plain")
    assert first.case("auto[case=c77]")["status"] == "failed", first
    second = assay_cli("run", ".", "--plain", "-S", "skip_exit_codes=77")
    assert second.case("auto[case=c77]")["status"] == "skipped", second
    shown = assay_cli("history", "--json")
    assert shown.code == 0, shown
    verdicts = {
        c["name"].split(" @")[0]: c["last_verdict"] for c in json.loads(shown.stdout)["cases"]
    }
    assert verdicts == {"auto[case=c0]": "passed", "auto[case=c77]": "skipped"}
    again = assay_cli("run", ".", "--plain", "--failed")
    assert again.code != 0 and "--failed: no case's last verdict is a failure" in again.stderr
    compared = json.loads(assay_cli("compare", "--json").stdout)
    assert compared["fixed"] == [] and compared["new_failures"] == []
    assert [c["name"].split(" @")[0] for c in compared["now_skipped"]] == ["auto[case=c77]"]
    table = assay_cli("compare")
    assert "failing in A, skipped in B (not fixed): 1" in table.stdout, table
