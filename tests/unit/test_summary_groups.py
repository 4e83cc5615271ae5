"""The end of a run says each reason once: failures (and skips) that share a reason, the
case's own name and paths taken out, are one entry with the count and the first names."""

from __future__ import annotations

import time
from pathlib import Path

from assay.results.model import CaseResult, Failure, Session, Status
from assay.results.reasons import group, pattern
from assay.summary import FULL, Caps, failure_reason, summary_lines
from assay.ui import RerunHint


def case(name: str, status: Status = Status.FAILED, **kw: object) -> CaseResult:
    variant = f"lex[file={name}]"
    base: dict[str, object] = {
        "name": f"{variant} @sys:part+env",
        "id": f"id-{name}",
        "test": "lex",
        "variant": variant,
        "params": {"file": name},
        "system": "sys",
        "partition": "part",
        "environment": "env",
        "status": status,
        "file": "lex.suite.toml",
        "stage_dir": f"/runs/s1/stage/lex-{name}",
    }
    base.update(kw)
    return CaseResult(**base)  # type: ignore[arg-type]


def session(*results: CaseResult) -> Session:
    now = time.time()
    return Session(
        id="s1",
        started=now - 3,
        finished=now,
        command=["assay", "run"],
        cwd="/",
        system="sys",
        config="built-in",
        hostname="h",
        user="u",
        version="0",
        results=list(results),
    )


def texts(s: Session, caps: Caps | None = None) -> list[str]:
    return [t for t, _ in summary_lines(s, RerunHint(), Path("s/report.json"), caps)]


def wrong_command(n: int) -> list[CaseResult]:
    """A suite whose command is wrong: every case fails the same way, its own file named."""
    return [
        case(
            f"example{i:03d}.py",
            failure=Failure(
                "run",
                f"exit code 127 (expected exit code 0): pygmentize: not found "
                f"(while reading /examples/example{i:03d}.py)",
            ),
        )
        for i in range(n)
    ]


def test_672_cases_failing_for_one_reason_are_one_entry_with_count_and_first_names() -> None:
    lines = texts(session(*wrong_command(672)))
    shared = (
        "run: exit code 127 (expected exit code 0): pygmentize: not found (while reading "
        "/examples/<file>)"
    )
    entries = [t for t in lines if "exit code 127" in t]
    # once in detail (its own reason) and once in the list (the shared one): not 672 times
    assert len(entries) == 2
    assert len(lines) < 30
    assert (
        "  the same:  671 more case(s): lex[file=example001.py], lex[file=example002.py],"
        in "\n".join(lines)
    )
    listed = lines[lines.index("failed (672), all @sys:part+env:") + 1 :]
    assert listed[0] == f"  672 cases  {shared}"[:76] + "..."
    names = "lex[file=example000.py], lex[file=example001.py], lex[file=example002.py]"
    assert listed[1] == f"      {names} and 669 more (all: s/summary.txt)"[:76] + "..."
    # the last lines: the command that reruns them all, then the counts
    assert lines[-3] == "rerun the failed: assay run lex.suite.toml --failed"
    assert lines[-2].startswith("0 passed, 672 failed, 0 skipped in ")


def test_the_summary_file_has_every_failure_in_detail_and_lists_their_reason_once() -> None:
    lines = texts(session(*wrong_command(40)), FULL)
    assert sum(t.startswith("FAIL lex[file=") for t in lines) == 40  # each case's own
    assert not any("the same:" in t for t in lines)
    listed = lines[lines.index("failed (40), all @sys:part+env:") + 1 : -4]
    assert listed[0].startswith("  40 cases  run: exit code 127 (expected exit code 0)")
    assert sum("exit code 127" in t for t in listed) == 1
    named = " ".join(listed[1:])
    for i in range(40):
        assert f"lex[file=example{i:03d}.py]" in named
    assert "more" not in named and "(all: " not in named


def test_a_few_failures_still_read_one_per_case() -> None:
    two = wrong_command(2)
    other = case("other.py", failure=Failure("sanity", "pattern 'x' not found"))
    lines = texts(session(*two, other), Caps(width=200))
    listed = lines[lines.index("failed (3), all @sys:part+env:") + 1 : -4]
    assert listed == [
        "  lex[file=example000.py]  run: exit code 127 (expected exit code 0): pygmentize: not "
        "found (while reading /examples/example000.py)",
        "  lex[file=example001.py]  run: exit code 127 (expected exit code 0): pygmentize: not "
        "found (while reading /examples/example001.py)",
        "  lex[file=other.py]  sanity: pattern 'x' not found",
    ]
    assert sum(t.startswith("FAIL ") for t in lines) == 3
    assert not any("the same:" in t for t in lines)


def test_failures_that_differ_beyond_the_cases_own_parts_stay_apart() -> None:
    results = [
        case(f"f{i}.py", failure=Failure("run", f"exit code {i + 1} (expected exit code 0)"))
        for i in range(5)
    ]
    entries = group(results, failure_reason)
    assert [len(e.results) for e in entries] == [1, 1, 1, 1, 1]


def test_the_cases_own_name_stage_dir_and_values_become_placeholders_only_whole() -> None:
    result = case("abc")
    said = "cannot open /runs/s1/stage/lex-abc/out.txt for abc (not abcd) in "
    said += "lex[file=abc] @sys:part+env"
    assert (
        pattern(result, said) == "cannot open <stage dir>/out.txt for <file> (not abcd) in <name>"
    )
    # a value met inside a placeholder put in before it stays that placeholder
    named = case("name", params={"file": "name", "kind": "file"}, stage_dir=None)
    said = "no file name: lex[file=name] @sys:part+env"
    assert pattern(named, said) == "no <kind> <file>: <name>"
    short = case("ab")  # too short a value to take out (it could be any word's part)
    assert pattern(short, "ab: no") == "ab: no"


def test_the_skipped_cases_are_listed_by_reason() -> None:
    nodes = "needs 4 nodes; partition sys:part has 1 (systems.sys.partitions.part.resources.nodes)"
    results = [case(f"big{i}", Status.SKIPPED, skip_reason=nodes) for i in range(5)]
    results += [
        case(
            f"gpu{i}",
            Status.SKIPPED,
            exit_code=77,
            skip_reason=f"the command exited 77 (skip_exit_codes): gpu{i}: no GPU found",
        )
        for i in range(4)
    ]
    results.append(case("dep", Status.SKIPPED, skip_reason="dependency failed: Build"))
    results.append(case("fine", Status.PASSED))
    lines = texts(session(*results), Caps(width=200))
    start = lines.index("skipped (10), all @sys:part+env:")
    assert lines[start + 1 : start + 7] == [
        f"  5 cases  {nodes}",
        "      lex[file=big0], lex[file=big1], lex[file=big2] and 2 more (all: s/summary.txt)",
        "  4 cases  the command exited 77 (skip_exit_codes): <file>: no GPU found",
        "      lex[file=gpu0], lex[file=gpu1], lex[file=gpu2] and 1 more (all: s/summary.txt)",
        "  lex[file=dep]  dependency failed: Build",
        "",
    ]
    assert lines[-2].startswith("1 passed, 0 failed, 10 skipped in ")
    assert not any(t.startswith("rerun the failed") for t in lines)


def test_many_reasons_to_skip_are_capped_on_a_screen_and_whole_in_the_file() -> None:
    results = [
        case(f"s{i}", Status.SKIPPED, skip_reason=f"dependency failed: B{i}") for i in range(15)
    ]
    lines = texts(session(*results), Caps(width=200))
    start = lines.index("skipped (15), all @sys:part+env:")
    assert len([t for t in lines[start:] if "dependency failed" in t]) == 10
    assert "  5 more skipped case(s), 5 more reason(s): s/summary.txt" in lines
    full = texts(session(*results), FULL)
    assert len([t for t in full if "dependency failed" in t]) == 15
