"""The summary at the end of a run, as (text, style) lines: the failures in detail (capped so
that they fit a screen), the scaling and performance tables, the skipped cases by reason, and
last a compact list of the failed cases, one line each, above the command that reruns them
and the counts. Cases that share a reason (:mod:`assay.results.reasons`: 672 cases of a
suite whose command is wrong) are one entry: the count, the first few names, the reason once.

What the caps leave out of the terminal is in the session's ``summary.txt`` (the whole
summary, uncapped) and in the JSON report; ``assay run --full`` prints everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec
from msgspec import field

from assay import terminal
from assay.durations import format_duration
from assay.files import display_path, tail, why_unread
from assay.results.model import COMPARED_ANYWAY, NOT_STARTED, CaseResult, Session, Status
from assay.results.reasons import Group, group, names
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

    def failed(self, results: Sequence[CaseResult]) -> str: ...

    def resume(self) -> str: ...


class Caps(msgspec.Struct, frozen=True):
    """How much of the summary a terminal shows; ``None``: everything.

    ``failures``: rows of failure details above the list of failed cases (a row is
    ``width`` characters: a longer line takes several); ``per_failure``: lines of one
    failure's details when many share the screen (fewer get their share of ``failures``);
    ``table_rows``: rows of the performance table; ``width``: the terminal's, to which the
    list of failed cases is cut (``cut``: one line per case, on a screen) or wrapped (a log,
    ``--plain``, the summary file: each reason whole); ``names``: the names of the cases
    that share a reason, listed in its entry; ``skips``: entries of the skipped cases."""

    failures: int | None = 40
    per_failure: int | None = 12
    table_rows: int | None = 10
    width: int = 80
    cut: bool = True
    names: int | None = 3
    skips: int | None = 10

    @property
    def full(self) -> bool:
        return (
            self.failures is None
            and self.per_failure is None
            and self.table_rows is None
            and self.names is None
            and self.skips is None
        )


FULL = Caps(None, None, None, width=1 << 30, cut=False, names=None, skips=None)
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


def failure_block(
    result: CaseResult, hint: Hint, same: Sequence[CaseResult] = (), shown: int | None = None
) -> _Block:
    """A failed case in detail: stage, reason, output tails, details, stage dir, rerun;
    ``same``: the other cases that failed with its reason, named after it (the first
    ``shown`` of them)."""
    block = _Block()
    failure = result.failure
    name = labelled(result.name, result.repeat)
    block.add([(f"FAIL {name}  [{result.id}]", "bold red")], 0)
    if failure:
        reason, *more = failure.reason.splitlines()
        block.add([(f"  stage:     {failure.stage}", ""), (f"  reason:    {reason}", "")], 0)
        block.add([(f"             {m}", "") for m in more], 3)
    if same:
        # (by variant where they end as this case does: `` @system:partition+env`` is above)
        end = result.name[len(result.variant) :]

        def label(other: CaseResult) -> str:
            short = other.name[len(other.variant) :] == end
            return labelled(other.variant if short else other.name, other.repeat)

        listed = names(same, shown, label)
        block.add([(f"  the same:  {len(same)} more case(s): {listed}", "")], 0)
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


def failure_reason(result: CaseResult) -> str:
    """What failed cases must share to be one entry: the stage and the whole reason."""
    failure = result.failure
    return f"{failure.stage}: {failure.reason}" if failure else ""


def _failures(groups: list[Group], hint: Hint, caps: Caps, where: str) -> list[Line]:
    more = f"see {where}" if where.endswith(SUMMARY_FILE) else where
    shown: list[Line] = []
    total = sum(len(g.results) for g in groups)
    longest = f"{total} case(s) failed; the first {total} in detail (all: {where}):"
    used = 1 + rows(longest, caps.width)  # a blank line and the heading
    count = cases = 0
    per = caps.per_failure  # a few failures share the screen: each gets its share of it
    if per is not None and caps.failures is not None:
        per = max(per, (caps.failures - used) // len(groups) - 1)
    for index, entry in enumerate(groups):
        details = failure_block(entry.first, hint, entry.results[1:], caps.names)
        block = [("", ""), *details.lines(per, more)]
        size = sum(rows(text, caps.width) for text, _ in block)
        after = 2 if index + 1 < len(groups) else 0  # the line that says more are below
        if caps.failures is not None and count and used + size + after > caps.failures:
            break
        shown += block
        used += size
        count += 1
        cases += len(entry.results)
    head = f"{total} case(s) failed:"
    if count < len(groups):
        head = f"{total} case(s) failed; the first {cases} in detail (all: {where}):"
    lines = [("", ""), (head, "bold red"), *shown]
    if count < len(groups):
        lines += [("", ""), (f"{total - cases} more failed case(s) in the list below", "dim")]
    return lines


def _compact(groups: list[Group], caps: Caps, where: str) -> list[Line]:
    """Each failed case with its stage and reason, or each group of cases that share one
    (their count, the reason, then their names: the first ``caps.names``); see
    :func:`_entry`."""
    bad = [r for entry in groups for r in entry.results]
    head, label = _heading(f"failed ({len(bad)})", bad)
    lines: list[Line] = [("", ""), (head, "bold red")]
    for entry in groups:
        lines += _entry(entry, label, caps, where, "red")
    return lines


def _heading(head: str, results: list[CaseResult]) -> tuple[str, Callable[[CaseResult], str]]:
    """A list's heading, with where every case ran when that is one place (``, all
    @system:partition+env:``), and how the list names a case then (by its variant)."""
    suffixes = {r.name[len(r.variant) :] for r in results}
    common = suffixes.pop() if len(suffixes) == 1 else None

    def label(result: CaseResult) -> str:
        return labelled(result.variant if common else result.name, result.repeat)

    return head + (f", all{common}:" if common else ":"), label


def _entry(
    entry: Group, label: Callable[[CaseResult], str], caps: Caps, where: str, style: str
) -> list[Line]:
    """One entry of a list of cases by reason: ``  NAME  REASON``, or ``  N cases  REASON``
    and their names below. On a screen (``caps.cut``) each line is cut to the width; else
    the whole reason is wrapped to it under the case's name (a log)."""
    reason = entry.reason.splitlines() or [""]
    many = len(entry.results) > 1
    who = f"{len(entry.results)} cases" if many else label(entry.first)
    text = f"  {who}  {reason[0]}".rstrip()
    rest = reason[1:]
    if many:
        listed = names(entry.results, caps.names, label)
        if caps.names is not None and len(entry.results) > caps.names:
            listed += f" (all: {where})"
        rest = [*rest, listed]
    if caps.cut:
        lines = [text, *[_MORE + r for r in rest[-1:]]] if many else [text]
        return [(_cut(t, caps.width), style) for t in lines]
    # Escaped before wrapping: the wrapper turns a newline or a carriage return into a
    # space, which no later escaping can show (a name would read as another).
    rest = [terminal.line(r) for r in rest]
    return [(t, style) for t in _wrapped(terminal.line(text), rest, caps.width - 1)]


def _cut(text: str, width: int) -> str:
    return text[: max(width - 4, 0)] + "..." if len(text) > width - 1 else text


def skip_reason(result: CaseResult) -> str:
    return result.skip_reason or "skipped"


def _skipped(results: list[CaseResult], caps: Caps, where: str) -> list[Line]:
    """The skipped cases by reason (a partition without the nodes, the command's exit code
    in ``skip_exit_codes``, a dependency's failure, ``--exit-first``): the first
    ``caps.skips`` entries."""
    skipped = [r for r in results if r.status == Status.SKIPPED]
    if not skipped:
        return []
    groups = group(skipped, skip_reason)
    head, label = _heading(f"skipped ({len(skipped)})", skipped)
    lines: list[Line] = [("", ""), (head, "bold yellow")]
    for index, entry in enumerate(groups):
        if caps.skips is not None and index >= caps.skips:
            rest = sum(len(g.results) for g in groups[index:])
            more = f"  {rest} more skipped case(s), {len(groups) - index} more reason(s): {where}"
            lines.append((more, "dim"))
            break
        lines += _entry(entry, label, caps, where, "yellow")
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
    groups = group(bad, failure_reason) if bad else []
    if bad:
        # Uncapped (summary.txt, --full), every failure in detail: the file is where the
        # capped summary says the rest is, each case's outputs and stage dir its own.
        alone = [Group(failure_reason(r), [r]) for r in bad] if caps.failures is None else []
        lines += _failures(alone or groups, hint, caps, where)
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
        # Names are cut to the width only on a screen: in a log (--plain, a pipe) they stay
        # whole, to be pasted into -n as they are.
        width = caps.width if caps.cut else FULL.width
        text = performance.format_table(metrics, caps.table_rows, width)
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
        # (Whatever stopped them, an interrupt, --exit-first or a host given up: the
        # journal has no result of theirs, so --resume runs them.)
        lines.append((f"  `{hint.resume()}` runs them all, in this session", "magenta"))
    if session.problems:
        lines.append(("", ""))
        lines.append((f"{len(session.problems)} problem(s) loading tests:", "bold red"))
        for problem in session.problems:
            first, *rest = problem.message.splitlines()
            lines.append((f"  {problem.location}: {first}", "red"))
            lines += [(f"  {m}", "red") for m in rest]
    lines += _skipped(session.results, caps, where)
    if bad:
        lines += _compact(groups, caps, where)
    lines.append(("", ""))
    if bad:  # (--failed reruns the aborted cases too)
        again = [r for r in session.results if r.status in (Status.FAILED, Status.ABORTED)]
        lines.append((f"rerun the failed: {hint.failed(again)}", "cyan"))
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
