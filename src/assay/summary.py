"""The summary at the end of a run, as (text, style) lines: the failures in detail (capped so
that they fit a screen), the scaling and performance tables, and last a compact list of the
failed cases, one line each, above the counts.

What the caps leave out of the terminal is in the session's ``summary.txt`` (the whole
summary, uncapped) and in the JSON report; ``assay run --full`` prints everything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec
from msgspec import field

from assay import terminal
from assay.durations import format_duration
from assay.files import display_path, tail, why_unread
from assay.results.model import COMPARED_ANYWAY, NOT_STARTED, CaseResult, Session, Status
from assay.run.scripts import PYTHON_OUT

if TYPE_CHECKING:
    from assay.results.performance import Row

Line = tuple[str, str]  # text, style
TAIL_LINES = 10
SUMMARY_FILE = "summary.txt"


class Hint(Protocol):
    """How to run a failed case again (the CLI's rerun command), and to finish an
    interrupted session."""

    def command(self, result: CaseResult) -> str: ...

    def resume(self) -> str: ...


class Caps(msgspec.Struct, frozen=True):
    """How much of the summary a terminal shows; ``None``: everything.

    ``failures``: rows of failure details above the list of failed cases (a row is
    ``width`` characters: a longer line takes several); ``per_failure``: lines of one
    failure's details when many share the screen (fewer get their share of ``failures``);
    ``table_rows``: rows of the performance table; ``width``: the terminal's, to which the
    list of failed cases is cut (``cut``: one line per case, on a screen) or wrapped (a log,
    ``--plain``, the summary file: each reason whole)."""

    failures: int | None = 40
    per_failure: int | None = 12
    table_rows: int | None = 10
    width: int = 80
    cut: bool = True

    @property
    def full(self) -> bool:
        return self.failures is None and self.per_failure is None and self.table_rows is None


FULL = Caps(None, None, None, width=1 << 30, cut=False)
"""No caps: the summary file, and ``--full``."""


def rows(text: str, width: int) -> int:
    """The terminal rows a line takes at ``width`` columns."""
    return max(1, -(-len(text) // max(width, 1)))


class _Block(msgspec.Struct):
    """One failure in detail: its parts in order, each (lines, priority when capped)."""

    parts: list[tuple[list[Line], int, bool]] = field(default_factory=list)  # keep the tail?

    def add(self, lines: list[Line], priority: int, tail_first: bool = False) -> None:
        if lines:
            self.parts.append((lines, priority, tail_first))

    def lines(self, limit: int | None, more: str) -> list[Line]:
        everything = [line for part, _, _ in self.parts for line in part]
        if limit is None or len(everything) <= limit:
            return everything
        room = limit - 1  # (the last line says what was left out)
        keep: dict[int, int] = {}
        for index in sorted(range(len(self.parts)), key=lambda i: self.parts[i][1]):
            part, priority, _ = self.parts[index]
            if priority == 0:  # always shown (the name, stage, reason, stage dir, rerun)
                keep[index] = len(part)
                room -= len(part)
        for index in sorted(range(len(self.parts)), key=lambda i: self.parts[i][1]):
            part, priority, _ = self.parts[index]
            if priority and room >= 2:
                keep[index] = min(len(part), room)
                room -= keep[index]
        out: list[Line] = []
        for index, (part, _, tail_first) in enumerate(self.parts):
            n = keep.get(index, 0)
            if not n:
                continue
            if n == len(part):
                out += part
            elif tail_first:  # a heading, then the last lines
                out += [part[0], *part[len(part) - n + 1 :]]
            else:
                out += part[:n]
        hidden = len(everything) - len(out)
        out.append((f"  ({hidden} more line(s) of this failure: {more})", "dim"))
        return out


def labelled(name: str, repeat: int) -> str:
    """A case's name, with its repetition (``--repeat``) after the first: ``Stream #2``."""
    return f"{name} #{repeat}" if repeat > 1 else name


def failure_block(result: CaseResult, hint: Hint) -> _Block:
    """A failed case in detail: stage, reason, output tails, details, stage dir, rerun."""
    block = _Block()
    failure = result.failure
    name = labelled(result.name, result.repeat)
    block.add([(f"FAIL {name}  [{result.id}]", "bold red")], 0)
    if failure:
        reason, *more = failure.reason.splitlines()
        block.add([(f"  stage:     {failure.stage}", ""), (f"  reason:    {reason}", "")], 0)
        block.add([(f"             {m}", "") for m in more], 3)
    if result.attempts > 1:
        block.add([(f"  attempts:  {result.attempts}", "")], 0)
    if result.hosts:  # a batch job: which one, and the nodes (a bad node shows here)
        block.add([(f"  job:       {result.job_id} on {result.hosts}", "")], 2)
    stage = "build" if failure and failure.stage == "build" else "run"
    base = result.output_dir or result.stage_dir
    if base:
        for stream, priority in (("out", 5), ("err", 4)):
            path = Path(base) / f"assay-{stage}.{stream}"
            text = tail(path, TAIL_LINES)
            name = "stdout" if stream == "out" else "stderr"
            if text:
                lines = [(f"  {name} (last lines of {stage}):", "dim")]
                lines += [(f"    | {line}", "dim") for line in text.splitlines()]
                block.add(lines, priority, tail_first=True)
            elif text is None and (why := why_unread(path)):  # (not when simply missing)
                block.add([(f"  {name} of {stage} not shown: {terminal.line(why)}", "dim")], 3)
        text = tail(Path(base) / PYTHON_OUT, TAIL_LINES)
        if text:
            lines = [("  printed by its Python code (last lines):", "dim")]
            lines += [(f"    | {line}", "dim") for line in text.splitlines()]
            block.add(lines, 6, tail_first=True)
    if failure and failure.details and failure.stage not in ("build",):
        lines = [("  details:", "dim")]
        said = [failure.reason]
        for line in failure.details.splitlines():
            text = line.strip()
            if len(text) > 20 and any(earlier.endswith(text) for earlier in said):
                continue  # a sentence the reason (or the line before) already says
            said.append(text)
            lines.append((f"    {line}", "dim"))
        # Outputs compared after an exit code that was not accepted did not decide the
        # verdict: the run's own output tails (a traceback's last line) say more.
        block.add(lines, 6 if failure.details.startswith(COMPARED_ANYWAY) else 1)
    ends = []
    # Escaped here, as the notes above are, not only where a line is printed: a newline in
    # a directory's name (the user's, above the case's) would count as one row of the
    # screen and show as two.
    if result.stage_dir:
        ends.append((f"  stage dir: {terminal.line(display_path(result.stage_dir))}", ""))
    if result.remote_dir:
        remote = terminal.line(result.remote_dir)
        ends.append((f"  remote:    {remote}  (assay fetch {result.id})", ""))
    ends.append((f"  rerun:     {hint.command(result)}", "cyan"))
    block.add(ends, 0)
    return block


def _elsewhere(report: Path | None) -> str:
    """Where what the terminal leaves out is."""
    if report is None:
        return "run again with --full"
    return display_path(str(report.parent / SUMMARY_FILE))


def _failures(bad: list[CaseResult], hint: Hint, caps: Caps, where: str) -> list[Line]:
    more = f"see {where}" if where.endswith(SUMMARY_FILE) else where
    shown: list[Line] = []
    longest = f"{len(bad)} case(s) failed; the first {len(bad)} in detail (all: {where}):"
    used = 1 + rows(longest, caps.width)  # a blank line and the heading
    count = 0
    per = caps.per_failure  # a few failures share the screen: each gets its share of it
    if per is not None and caps.failures is not None:
        per = max(per, (caps.failures - used) // len(bad) - 1)
    for index, result in enumerate(bad):
        block = [("", ""), *failure_block(result, hint).lines(per, more)]
        size = sum(rows(text, caps.width) for text, _ in block)
        after = 2 if index + 1 < len(bad) else 0  # the line that says more are below
        if caps.failures is not None and count and used + size + after > caps.failures:
            break
        shown += block
        used += size
        count += 1
    head = f"{len(bad)} case(s) failed:"
    if count < len(bad):
        head = f"{len(bad)} case(s) failed; the first {count} in detail (all: {where}):"
    lines = [("", ""), (head, "bold red"), *shown]
    if count < len(bad):
        lines += [("", ""), (f"{len(bad) - count} more failed case(s) in the list below", "dim")]
    return lines


def _compact(bad: list[CaseResult], width: int, cut: bool = True) -> list[Line]:
    """Each failed case with its stage and reason: one line cut to ``width`` (a screen), or
    the whole reason wrapped to ``width`` under the case's name (``cut`` false: a log)."""
    suffixes = {r.name[len(r.variant) :] for r in bad}
    common = suffixes.pop() if len(suffixes) == 1 else None
    head = f"failed ({len(bad)})" + (f", all{common}:" if common else ":")
    lines: list[Line] = [("", ""), (head, "bold red")]
    for result in bad:
        name = labelled(result.variant if common else result.name, result.repeat)
        failure = result.failure
        reason = (failure.reason.splitlines() or [""]) if failure else [""]
        why = f"{failure.stage}: {reason[0]}" if failure else ""
        text = f"  {name}  {why}".rstrip()
        if cut:
            if len(text) > width - 1:
                text = text[: max(width - 4, 0)] + "..."
            lines.append((text, "red"))
            continue
        # Escaped before wrapping: the wrapper turns a newline or a carriage return into a
        # space, which no later escaping can show (a name would read as another).
        rest = [terminal.line(r) for r in reason[1:]]
        lines += [(t, "red") for t in _wrapped(terminal.line(text), rest, width - 1)]
    return lines


_MORE = "      "
"""The indent of a reason's further lines in the list of failed cases."""


def _wrapped(first: str, rest: list[str], width: int) -> list[str]:
    """A case's line and its reason's further lines, each wrapped to ``width`` at spaces; a
    word longer than that (a path) stays whole on its own line, so that it can be copied."""
    import textwrap  # lazy: only a log with failures wraps

    wrap = textwrap.TextWrapper(
        width, subsequent_indent=_MORE, break_long_words=False, break_on_hyphens=False
    )
    out = wrap.wrap(first) or [first]
    wrap.initial_indent = _MORE
    for line in rest:  # (a blank line would end the list for a reader)
        out += wrap.wrap(line)
    return out


def _metric_rows(results: list[CaseResult]) -> list[Row]:
    """The performance table's rows (none, and nothing imported, for cases that measured
    nothing)."""
    if not any(r.metrics for r in results):
        return []
    from assay.results import performance

    return performance.rows(results)


def summary_lines(
    session: Session, hint: Hint, report: Path | None, caps: Caps | None = None
) -> list[Line]:
    """The final summary as (text, style) lines."""
    from assay.results import samples, scaling  # lazy: the end of a run (statistics)

    caps = caps or Caps()
    where = _elsewhere(report)
    lines: list[Line] = []
    bad = [r for r in session.results if r.status == Status.FAILED]
    if bad:
        lines += _failures(bad, hint, caps, where)
    for table in scaling.tables(session.results):
        lines.append(("", ""))
        lines += [
            (text, "bold" if i == 0 else "") for i, text in enumerate(scaling.format_table(table))
        ]
    lines += samples.summary_lines(session.results)
    if session.regressions or session.not_judged:
        from assay.results import regressions  # lazy: a session that measured

        lines += regressions.summary_lines(session)
    metrics = _metric_rows(session.results)
    if metrics:
        from assay.results import performance

        lines.append(("", ""))
        text = performance.format_table(metrics, caps.table_rows, caps.width)
        if caps.table_rows is not None and len(metrics) > caps.table_rows:
            text[-1] += f" (see {where})"
        lines += [(t, "bold" if i == 0 else "") for i, t in enumerate(text)]
    aborted = [r for r in session.results if r.status == Status.ABORTED]
    if aborted:
        lines.append(("", ""))
        lines.append((f"{len(aborted)} case(s) aborted (run them again with --case):", "magenta"))
        for result in aborted:
            failure = result.failure
            when = f"during {failure.stage if failure else 'setup'}"
            if failure is not None and failure.reason == NOT_STARTED:
                when = "not started"
            lines.append((f"  [{result.id}] {result.name}  ({when})", "magenta"))
        if session.interrupted:
            lines.append((f"  `{hint.resume()}` runs them all, in this session", "magenta"))
    if session.problems:
        lines.append(("", ""))
        lines.append((f"{len(session.problems)} problem(s) loading tests:", "bold red"))
        for problem in session.problems:
            first, *rest = problem.message.splitlines()
            lines.append((f"  {problem.location}: {first}", "red"))
            lines += [(f"  {m}", "red") for m in rest]
    if bad:
        lines += _compact(bad, caps.width, caps.cut)
    lines.append(("", ""))
    # Above the verdict: the counts and the report's path stay the last lines.
    # How far the prediction was off: only a recorded one (not a guess from the elapsed
    # time), for a run long enough that its error is not noise.
    took = 0.0 if session.finished is None else session.finished - session.started
    if session.estimate is not None and session.estimate_recorded and took >= ESTIMATE_WORTH_SAYING:
        lines.append((estimate_line(session.estimate, took), "dim"))
    lines.append(_counts(session))
    if report is not None:
        lines.append((f"report: {display_path(str(report))}", "dim"))
    return lines


ESTIMATE_WORTH_SAYING = 10.0
"""Seconds a run must take before the summary says how far its first estimate was off."""


def estimate_line(estimate: tuple[float, float], took: float) -> str:
    """How far the first time-left estimate was off."""
    made, left = estimate
    expected = made + left
    when = "at the start" if made < 0.01 else f"after {format_duration(made)}"
    if expected <= 0:
        return f"first estimate {when}: done at once; took {format_duration(took)}"
    off = (took - expected) / expected
    word = "longer" if off >= 0 else "shorter"
    return (
        f"first estimate {when}: {format_duration(expected)} in all; took "
        f"{format_duration(took)} ({abs(off):.0%} {word})"
    )


def _counts(session: Session) -> Line:
    counts = (
        f"{session.count(Status.PASSED)} passed, {session.count(Status.FAILED)} failed, "
        f"{session.count(Status.SKIPPED)} skipped"
    )
    if session.count(Status.ABORTED):
        counts += f", {session.count(Status.ABORTED)} aborted"
    elapsed = (session.finished or time.time()) - session.started
    verdict = "bold green" if session.ok else "bold red"
    interrupted = f" (interrupted by {session.interrupted})" if session.interrupted else ""
    return f"{counts} in {format_duration(elapsed)}{interrupted}", verdict


def summary_file(lines: Sequence[Line]) -> str:
    """The text of ``summary.txt``: as the terminal shows it, control characters escaped
    (it is read with ``cat`` in CI logs)."""
    return "".join(f"{terminal.line(text)}\n" for text, _ in lines)
