"""The end of a run that many cases failed: details capped to fit a screen, then a compact
list of every failed case, one line each; everything in the session's summary.txt and with
--full. Real runs of a generated 300-case suite."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, write_tree

Cli = Callable[..., CliResult]

CASES, FAILING = 300, 40
WIDTH = 80
BOUND = 40
"""Rows of 80 columns above the list of failed cases. Why 40: a CI log or a terminal shows
the end of the output; with the counts, the report line and the list of 40 failures below
it, 40 rows of details are what a 50-row terminal (or two 24-row screens) shows of the rest;
the plain display's default cap is exactly this."""


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[CliResult, Path]:
    """A suite of 300 cases, 40 of which fail in the ways a real suite does: outputs that end
    early, a changed token, a wrong exit code with a message on stderr."""
    from tests.conftest import run_assay

    root = tmp_path_factory.mktemp("big")
    files: dict[str, str] = {
        "run.sh": (
            "#!/bin/sh\nif [ -f fail-exit ]; then echo 'error: unexpected token' >&2; "
            "cat in.txt; exit 3; fi\ncat in.txt > out.event\n"
        ),
        "big.suite.toml": (
            '[suite]\nname = "yaml"\ncases = "cases/*"\ncommand = "../../../../run.sh"\n'
            '[suite.compare]\nfiles = ["out.event"]\n'
        ),
    }
    for i in range(CASES):
        events = "".join(f"+EVENT {j} value {i}.{j}\n" for j in range(12))
        expected = events
        name = f"cases/C{i:03d}"
        files[f"{name}/in.txt"] = events
        if i < FAILING:
            kind = i % 3
            if kind == 0:  # the parser fails
                files[f"{name}/fail-exit"] = ""
            elif kind == 1:  # the parser stops early: 5 lines missing
                files[f"{name}/in.txt"] = "".join(events.splitlines(keepends=True)[:7])
            else:  # one token differs
                expected = events.replace("+EVENT 4 ", "+EVENT 4 extra ")
        files[f"{name}/expected/out.event"] = expected
    write_tree(root, files, exe=("run.sh",))
    # (the command runs in each case's stage dir, four levels below the root)
    text = (root / "big.suite.toml").read_text().replace("../../../../run.sh", f"{root}/run.sh")
    (root / "big.suite.toml").write_text(text)
    result = run_assay("run", ".", "--plain", cwd=root, timeout=600, env={"COLUMNS": str(WIDTH)})
    return result, root


def _sections(stdout: str) -> tuple[list[str], list[str]]:
    """The summary above the list of failed cases, and that list."""
    lines = stdout.splitlines()
    last_event = max(i for i, line in enumerate(lines) if re.match(r"\[[ A-Z]{5}\] ", line))
    start = next(i for i, line in enumerate(lines) if line.startswith(f"failed ({FAILING})"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
    return lines[last_event + 1 : start], lines[start + 1 : end]


def test_the_summary_of_40_failures_fits_a_screen_above_the_list(big_run):
    result, _ = big_run
    assert result.code == 1
    assert result.report["summary"]["failed"] == FAILING
    above, listed = _sections(result.stdout)
    rows = sum(max(1, -(-len(line) // WIDTH)) for line in above)
    assert rows <= BOUND, "\n".join(above)
    assert any(line.startswith("FAIL yaml[case=C000]") for line in above)  # some in detail
    assert f"{FAILING} case(s) failed; the first " in above[1]
    # The list: every failed case, within the width, with stage and its whole reason (a log
    # wraps it under the case's name: nothing is cut off); the 14 whose exit code was not
    # accepted share their reason: one entry, the reason once, then their first names.
    starts = [i for i, line in enumerate(listed) if not line.startswith("      ")]
    assert len(starts) == FAILING - 14 + 1
    assert all(len(line) < WIDTH for line in listed)
    assert listed[0] == "  14 cases  sanity: exit code 3 (expected exit code 0)"
    assert listed[1] == "      yaml[case=C000], yaml[case=C003], yaml[case=C006] and 11 more (all:"
    assert listed[2].startswith("      .assay/runs/") and listed[2].endswith("/summary.txt)")
    assert listed[3].startswith("  yaml[case=C001]  sanity: out.event line 8: actual ends")
    token = " ".join(" ".join(listed[starts[2] : starts[3]]).split())
    reasons = {c["variant"]: c["failure"]["reason"] for c in result.report["cases"] if c["failure"]}
    assert token == f"yaml[case=C002] sanity: {reasons['yaml[case=C002]']}"
    lines = result.stdout.splitlines()
    assert lines[-3] == "rerun the failed: assay run big.suite.toml --failed"
    assert lines[-2].startswith("260 passed, 40 failed, 0 skipped in ")
    assert lines[-1].startswith("report: ")


def test_each_failure_is_capped_and_says_where_the_rest_is(big_run):
    result, _ = big_run
    above, _ = _sections(result.stdout)
    blocks = "\n".join(above).split("\n\n")
    failures = [b for b in blocks if b.startswith("FAIL ")]
    summary = Path(result.report["session"]["directory"]) / "summary.txt"
    for block in failures:
        assert len(block.splitlines()) <= 12
    capped = [b for b in failures if "more line(s) of this failure" in b]
    assert capped, "the exit-code failures have more than 12 lines"
    assert all(f"see .assay/runs/{summary.parent.name}/summary.txt" in b for b in capped)


def test_the_summary_file_holds_every_failure_in_full(big_run):
    result, root = big_run
    summary = (Path(result.report["session"]["directory"]) / "summary.txt").read_text()
    assert summary.count("\nFAIL yaml[case=") == FAILING
    assert "more line(s) of this failure" not in summary
    # A failure whose exit code was not accepted shows stderr and the first difference.
    block = summary.split("FAIL yaml[case=C000]")[1].split("\n\n")[0]
    assert "    | error: unexpected token" in block
    assert "outputs (compared anyway): out.event" in block
    # --full prints the same on the terminal.
    full = _run(root, "--full", "-n", "yaml[case=C00")
    assert "more line(s)" not in full.stdout
    assert full.stdout.count("\nFAIL yaml[case=") == 10  # C000..C009, all failing


def _run(root: Path, *args: str) -> CliResult:
    from tests.conftest import run_assay

    return run_assay("run", ".", "--plain", *args, cwd=root, env={"COLUMNS": str(WIDTH)})


_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@pytest.mark.parametrize(("columns", "lines"), [(80, 24), (120, 50)])
def test_on_a_terminal_the_summary_above_the_list_fits_one_screen(big_run, columns, lines):
    """The live display on a real pseudo-terminal: what is above the list of failed cases
    fits the screen (at most 50 rows), and the list below names all 40."""
    from tests.conftest import run_on_terminal

    _, root = big_run
    code, drawn = run_on_terminal("run", ".", cwd=root, timeout=600, columns=columns, lines=lines)
    assert code == 1, drawn[-3000:]
    text = _ESCAPES.sub("", drawn)
    end = text[text.rindex(f"{FAILING} case(s) failed") :].splitlines()
    start = next(i for i, line in enumerate(end) if line.startswith(f"failed ({FAILING})"))
    above = end[:start]
    rows = sum(max(1, -(-len(line) // columns)) for line in above)
    assert rows <= min(lines, 50), "\n".join(above)
    listed = []
    for line in end[start + 1 :]:
        if not line.startswith("  "):
            break
        listed.append(line)
    # the 14 that share a reason first (their count, then their first names), then the rest
    alone = [f"yaml[case=C{i:03d}]" for i in range(40) if i % 3]
    assert [line.split()[0] for line in listed] == ["14", "yaml[case=C000],", *alone]
    assert all(len(line) <= columns for line in listed)


def test_the_last_lines_rerun_the_failed_cases_and_only_those(tmp_path: Path) -> None:
    """The command above the counts, run as printed, runs the cases that failed again."""
    import shlex

    from tests.conftest import run_assay

    files = {
        "bin/run.sh": "#!/bin/sh\nif [ -f fail-me ]; then exit 2; fi\ncp in.txt out.txt\n",
        "sub/check.suite.toml": (
            '[suite]\nname = "check"\ncases = "cases/*"\nbuild = "../bin"\n'
            'command = "$ASSAY_BUILD/run.sh"\n[suite.compare]\nfiles = ["out.txt"]\n'
        ),
    }
    for name in ("a", "b", "c", "d"):
        files[f"sub/cases/{name}/in.txt"] = f"{name}\n"
        files[f"sub/cases/{name}/expected/out.txt"] = f"{name}\n"
    for name in ("a", "b", "c"):  # three fail alike: one entry, and the line that reruns them
        files[f"sub/cases/{name}/fail-me"] = ""
    write_tree(tmp_path, files, exe=("bin/run.sh",))
    first = run_assay("run", "sub", "--plain", cwd=tmp_path, env={"COLUMNS": "100"})
    assert first.code == 1, first
    lines = first.stdout.splitlines()
    assert lines[-3] == "rerun the failed: assay run sub/check.suite.toml --failed"
    assert "  3 cases  sanity: exit code 2 (expected exit code 0)" in lines
    words = shlex.split(lines[-3].partition(": ")[2])
    again = run_assay(*words[1:], "--plain", cwd=tmp_path, env={"COLUMNS": "100"})
    ran = {c["variant"] for c in again.report["cases"]}
    assert ran == {"check[case=a]", "check[case=b]", "check[case=c]"}
