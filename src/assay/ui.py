"""The terminal: a live display on a TTY, one line per event otherwise, and the summary.

Both displays implement the session's :class:`~assay.session.Display` (the runner's
events among them); only the CLI imports this module. rich is imported only for the live
display, so plain output starts fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from assay import shell, terminal
from assay.durations import format_duration
from assay.files import display_path, write_atomic
from assay.own_output import own_output
from assay.results.model import CaseResult, Session, Status
from assay.results.numbers import metric_value
from assay.summary import FULL, SUMMARY_FILE, Caps, labelled, summary_file, summary_lines

if TYPE_CHECKING:
    from assay.plan import Case
    from assay.store.transfer import TransferProgress


_MARK = {
    Status.PASSED: ("OK", "green"),
    Status.FAILED: ("FAIL", "red"),
    Status.SKIPPED: ("SKIP", "yellow"),
    Status.ABORTED: ("ABORT", "magenta"),
}


class RerunHint(msgspec.Struct, frozen=True):
    """What the rerun command of a failed case must repeat from this invocation."""

    config: str | None = None
    system: str | None = None
    settings: Sequence[str] = ()
    prefix: str | None = None

    def command(self, result: CaseResult) -> str:
        words = ["assay", "run", display_path(result.file) if result.file else "."]
        words += self._options()
        words += ["--case", result.id]
        return shell.join(words)

    def failed(self, results: Sequence[CaseResult]) -> str:
        """The command that runs the failed (and aborted) cases again: the files they are in,
        ``--failed``."""
        files = dict.fromkeys(r.file for r in results)  # (each shown once: it resolves links)
        words = ["assay", "run", *dict.fromkeys(display_path(f) if f else "." for f in files)]
        words += [] if files else ["."]
        words += self._options()
        return shell.join([*words, "--failed"])

    def _options(self) -> list[str]:
        words = []
        if self.config:
            words += ["--config", self.config]
        if self.system:
            words += ["--system", self.system]
        if self.prefix:
            words += ["--prefix", self.prefix]
        for setting in self.settings:
            words += ["-S", setting]
        return words

    def resume(self) -> str:
        """The command that finishes this session: it is found in the prefix, which the
        config may set (the session's own arguments are read from it)."""
        words = ["assay", "run", "--resume"]
        for option, value in (
            ("--config", self.config),
            ("--system", self.system),
            ("--prefix", self.prefix),
        ):
            words += [option, value] if value else []
        return shell.join(words)


def _metric_text(result: CaseResult) -> str:
    parts = []
    for m in result.metrics:
        if m.value is not None:
            unit = f" {m.unit}" if m.unit else ""
            parts.append(f"{m.name}={metric_value(m.value)}{unit}")
    return "  " + " ".join(parts) if parts else ""


def event_line(result: CaseResult) -> tuple[str, str]:
    """One line for a finished case, and its style."""
    mark, style = _MARK[result.status]
    head = f"[{mark:>5}] {labelled(result.name, result.repeat)}"
    if result.status == Status.PASSED:
        return f"{head} ({format_duration(result.duration)}){_metric_text(result)}", style
    if result.status == Status.SKIPPED:
        return f"{head}: {result.skip_reason}", style
    failure = result.failure
    reason = f"{failure.stage}: {failure.reason.splitlines()[0]}" if failure else ""
    return f"{head} ({format_duration(result.duration)}) {reason}", style


def output_lost(stream: TextIO | None = None) -> None:
    """The terminal or pipe assay writes to is gone (the terminal was closed, the reader of
    ``assay run | head`` exited): what would go there goes to /dev/null from now on, so the
    run finishes, writes its report and exits with its own code. Standard error too when it
    is the same terminal or pipe, and ``stream`` (a display's own, see display_stream)."""
    try:
        out = os.fstat(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(2), out):
                os.dup2(devnull, 2)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            own = stream.fileno() if stream is not None else 1
            if own > 2:
                os.dup2(devnull, own)
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)


def display_stream() -> TextIO:
    """Where a display writes: a descriptor of its own on what fd 1 is open to now. Test code
    runs in this process, module-level code outside any case too: closing ``sys.stdout``,
    ``sys.__stdout__`` or fd 1 itself must not take the terminal from the display (it used to
    end the run with a traceback). An in-process caller that replaced sys.stdout (a capture)
    keeps its own. Nor can closing the display's own descriptor (``os.closerange``) give
    its lines to whatever file next gets that number (:mod:`assay.own_output`)."""
    out: TextIO = sys.stdout
    try:
        if sys.__stdout__ is None or out is not sys.__stdout__ or out.fileno() != 1:
            return out
        return own_output(out.encoding, out.errors)
    except (OSError, ValueError, AttributeError):  # no fd 1, or a stream without one
        return out


class PlainDisplay:
    """One line per event, for logs and pipes (and ``--plain``)."""

    shows_stages = False  # (case_stage does nothing: the runner need not call it)
    shows_time_left = False  # (start's time_left is not used)

    def __init__(self, stream: TextIO | None = None, full: bool = False) -> None:
        self.stream = stream or sys.stdout
        self._sending: dict[tuple[str, int], float] = {}
        # A log has no screen: the default caps, at $COLUMNS (80 when unset) wide; the list
        # of failed cases wraps each reason whole (nobody scrolls a log sideways).
        columns = shutil.get_terminal_size((80, 24)).columns
        self.caps = FULL if full else Caps(width=columns, cut=False)

    def start(
        self, total: int, header: str, time_left: Callable[[], float | None] | None = None
    ) -> None:
        self._write(header)

    def case_started(self, case: Case, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._write(f"[  RUN] {labelled(case.name, case.repeat)}{again}")

    def case_retrying(self, result: CaseResult, attempt: int) -> None:
        failure = result.failure
        reason = f"{failure.stage}: {failure.reason}" if failure else ""
        self._write(f"[RETRY] {result.name} failed ({reason}); attempt {attempt}")

    def case_finished(self, result: CaseResult) -> None:
        self._write(event_line(result)[0])

    def case_stage(self, case: Case, stage: str) -> None:
        """A log has a line per case started and finished; stages are for the live display."""

    def job_state(
        self, partition: str, job: str, state: str, reason: str | None, cases: Sequence[str] = ()
    ) -> None:
        """Scheduler jobs move through states; a log shows only the ones worth a line."""
        if state == "RUNNING":
            return
        if state == "PENDING" and reason in (None, "None", "Priority", "Resources"):
            return
        if state in ("PENDING", "REQUEUED") or state not in ("COMPLETED", "FAILED"):
            note = f" ({reason})" if reason else ""
            self._write(f"[ JOB ] {job} on {partition}: {state}{note}")

    def upload(self, where: str, progress: TransferProgress) -> None:
        """A log gets one line per upload that sent anything, when it is done."""
        key = (where, id(progress))
        if progress.phase == "sending" and key not in self._sending:
            self._sending[key] = time.monotonic()
        if progress.phase == "done" and progress.bytes_total:
            took = time.monotonic() - self._sending.pop(key, time.monotonic())
            self._write(
                f"[ SEND] {data_size(progress.bytes_total)} "
                f"({progress.objects_total} objects) to {where} in {took:.1f}s"
            )

    def connection(self, where: str, event: str, detail: str) -> None:
        """A line when a host's connection drops and when it is made again."""
        self._write(link_line(where, event, detail))

    def finish(self, session: Session, hint: RerunHint, report: Path | None) -> None:
        write_summary(session, hint, report)
        for text, _ in summary_lines(session, hint, report, self.caps):
            self._write(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(terminal.line(text) + "\n")
            self.stream.flush()
        except OSError:  # nobody reads any more (EPIPE, EIO): finish the run regardless
            output_lost(self.stream)


class LiveDisplay:
    """A live progress display on a terminal: done/total, counts, running cases, time left."""

    shows_time_left = True  # (from the recorded durations: a run reads them first)

    def __init__(self, max_rows: int = 8, full: bool = False, stream: TextIO | None = None) -> None:
        from rich.console import Console  # lazy: start-up time (rich: 30 ms; plain output)

        # The terminal itself: while test code runs, sys.stdout is its own file.
        self.stream = stream or sys.stdout
        self.console = Console(file=self.stream, highlight=False)
        self.max_rows = max_rows
        self.full = full
        self.total = 0
        self.done = 0
        self.counts = dict.fromkeys(Status, 0)
        self.running: dict[str, float] = {}
        self.stages: dict[str, str] = {}  # running case -> its current stage
        self.job_names: dict[str, str] = {}  # a running case's job name -> the case
        self.case_jobs: dict[str, tuple[str, str | None]] = {}  # case -> its job's state
        self.started = time.monotonic()
        self.live: Any = None
        self.jobs: dict[str, dict[str, tuple[str, str | None]]] = {}  # partition -> job -> state
        # Seconds left from recorded durations (the runner's estimate), if there is one.
        self.time_left: Callable[[], float | None] | None = None
        self.uploads: dict[str, tuple[TransferProgress, float]] = {}  # where -> (progress, since)
        self.lost: dict[str, float] = {}  # where -> since when its connection is down

    def start(
        self, total: int, header: str, time_left: Callable[[], float | None] | None = None
    ) -> None:
        from rich.live import Live  # lazy: start-up time (as above)

        self.total = total
        self.time_left = time_left
        self.started = time.monotonic()
        self._print(header, style="bold")
        self.live = Live(
            console=self.console, refresh_per_second=8, transient=True, get_renderable=self._render
        )
        with _unless_lost(self.stream):
            self.live.start()

    def _print(self, text: str, style: str | None = None) -> None:
        with _unless_lost(self.stream):
            self.console.print(terminal.line(text), style=style, markup=False)

    def _render(self) -> Any:
        # lazy: start-up time (rich is for the live display only)
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        elapsed = now - self.started
        line = Text()
        line.append(f" {self.done}/{self.total} ", style="bold")
        line.append(f"passed {self.counts[Status.PASSED]} ", style="green")
        line.append(f"failed {self.counts[Status.FAILED]} ", style="red")
        if self.counts[Status.SKIPPED]:
            line.append(f"skipped {self.counts[Status.SKIPPED]} ", style="yellow")
        line.append(f"elapsed {format_duration(elapsed) if elapsed >= 1 else '0s'}")
        left = self.time_left() if self.time_left is not None else None
        if left is None and self.done:
            left = elapsed / self.done * (self.total - self.done)
        if left is not None and self.done < self.total:
            line.append(f"  ~{format_duration(max(left, 1))} left", style="dim")
        bar = ProgressBar(total=max(self.total, 1), completed=self.done, width=40)
        queues = [self._queue_line(p, jobs) for p, jobs in sorted(dict(self.jobs).items())]
        queues += [upload_line(w, p, now - t) for w, (p, t) in sorted(dict(self.uploads).items())]
        queues += [lost_line(w, now - t) for w, t in sorted(dict(self.lost).items())]
        table = Table.grid(padding=(0, 2))
        rows = sorted(self.running.items(), key=lambda kv: kv[1])
        for name, since in rows[: self.max_rows]:
            table.add_row(
                Text(format_duration(now - since), style="dim"),
                Text(terminal.line(name)),
                Text(terminal.line(self._doing(name)), style="cyan"),
            )
        if len(rows) > self.max_rows:
            table.add_row(Text(""), Text(f"... and {len(rows) - self.max_rows} more", style="dim"))
        return Group(bar, line, *queues, table)

    @staticmethod
    def _queue_line(partition: str, jobs: dict[str, tuple[str, str | None]]) -> Any:
        from rich.text import Text  # lazy: start-up time (rich: 30 ms; the live display only)

        states = list(dict(jobs).values())
        pending = [r for s, r in states if s == "PENDING"]
        running = sum(1 for s, _ in states if s == "RUNNING")
        done = len(states) - len(pending) - running
        line = Text(f" {terminal.line(partition)}: ", style="bold")
        line.append(f"pending {len(pending)}")
        reasons = Counter(r for r in pending if r and r != "None")
        if reasons:
            line.append(f" ({terminal.line(reasons.most_common(1)[0][0])})", style="yellow")
        line.append(f"  running {running}  done {done}")
        return line

    def _doing(self, name: str) -> str:
        """What a running case is at: its stage, and its job's state while in a scheduler's
        queue or running there (``run: PENDING (Priority)``)."""
        stage = self.stages.get(name, "")
        job = self.case_jobs.get(name)
        if job is None or stage != "run":
            return stage
        state, reason = job
        why = f" ({reason})" if reason and reason != "None" and state == "PENDING" else ""
        return f"{stage}: {state}{why}"

    def case_started(self, case: Case, attempt: int) -> None:
        name = labelled(case.name, case.repeat)
        self.running[name] = time.monotonic()
        self.stages.pop(name, None)
        self.case_jobs.pop(name, None)
        self.job_names[f"assay-{case.key}"] = name

    def case_stage(self, case: Case, stage: str) -> None:
        self.stages[labelled(case.name, case.repeat)] = stage

    def job_state(
        self, partition: str, job: str, state: str, reason: str | None, cases: Sequence[str] = ()
    ) -> None:
        self.jobs.setdefault(partition, {})[job] = (state, reason)
        for member in cases or (job,):
            name = self.job_names.get(member)
            if name is not None:
                self.case_jobs[name] = (state, reason)

    def upload(self, where: str, progress: TransferProgress) -> None:
        if progress.phase == "done" or not progress.bytes_total:
            self.uploads.pop(where, None)
            return
        since = self.uploads.get(where, (progress, time.monotonic()))[1]
        self.uploads[where] = (progress, since)

    def connection(self, where: str, event: str, detail: str) -> None:
        """A line above the display for each drop and return; while a host is away, a line
        under the progress bar says for how long."""
        if event == "lost":
            self.lost[where] = time.monotonic()
        else:
            self.lost.pop(where, None)
        self._print(link_line(where, event, detail), "yellow" if event == "lost" else None)

    def case_retrying(self, result: CaseResult, attempt: int) -> None:
        failure = result.failure
        reason = f"{failure.stage}: {failure.reason}" if failure else ""
        self._print(f"[RETRY] {result.name} failed ({reason}); attempt {attempt}", "yellow")

    def case_finished(self, result: CaseResult) -> None:
        name = labelled(result.name, result.repeat)
        self.running.pop(name, None)
        self.stages.pop(name, None)
        self.case_jobs.pop(name, None)
        self.job_names.pop(f"assay-{result.key}", None)
        self.done += 1
        self.counts[result.status] += 1
        if result.status != Status.PASSED:
            text, style = event_line(result)
            self._print(text, style)

    def finish(self, session: Session, hint: RerunHint, report: Path | None) -> None:
        if self.live is not None:
            with _unless_lost(self.stream):
                self.live.stop()
        write_summary(session, hint, report)
        for text, style in summary_lines(session, hint, report, self.caps()):
            self._print(text, style or None)

    def caps(self) -> Caps:
        """The failures' details fit the terminal's height, above the list of failures."""
        if self.full:
            return FULL
        width, height = self.console.size
        return Caps(failures=max(height - 2, 16), width=width)


def data_size(n: float) -> str:
    """1.2 MB, 340 kB, 12 B (decimal units, as disk tools print them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def upload_line(where: str, progress: TransferProgress, seconds: float) -> Any:
    """`` sending to WHERE: 12.0 MB of 100.0 MB  4.0 MB/s  ~22s left``."""
    from rich.text import Text  # lazy: start-up time (the live display only)

    line = Text(f" sending to {terminal.line(where)}: ", style="bold")
    line.append(f"{data_size(progress.bytes_done)} of {data_size(progress.bytes_total)}")
    if seconds >= 0.5 and progress.bytes_done:
        rate = progress.bytes_done / seconds
        left = (progress.bytes_total - progress.bytes_done) / rate
        line.append(f"  {data_size(rate)}/s  ~{format_duration(max(left, 1))} left", style="dim")
    return line


def link_line(where: str, event: str, detail: str) -> str:
    """``[ LOST] connection to WHERE lost: DETAIL`` or ``[ BACK] connection to WHERE made
    again DETAIL``."""
    if event == "lost":
        return f"[ LOST] connection to {where} lost: {detail}"
    return f"[ BACK] connection to {where} made again {detail}"


def lost_line(where: str, seconds: float) -> Any:
    """`` partition X (HOST): connection lost 12s ago, trying again``."""
    from rich.text import Text  # lazy: start-up time (the live display only)

    line = Text(f" {terminal.line(where)}: ", style="bold")
    line.append(f"connection lost {format_duration(max(seconds, 1))} ago, trying again", "yellow")
    return line


@contextlib.contextmanager
def _unless_lost(stream: TextIO) -> Iterator[None]:
    try:
        yield
    except OSError:  # the terminal is gone (EIO) or the pipe closed (EPIPE)
        output_lost(stream)


def write_summary(session: Session, hint: RerunHint, report: Path | None) -> Path | None:
    """The whole summary, without caps, in the session's directory (``summary.txt``)."""
    if report is None:
        return None
    path = report.parent / SUMMARY_FILE
    try:
        write_atomic(path, summary_file(summary_lines(session, hint, report, FULL)))
    except OSError:
        return None
    return path


def make_display(plain: bool, full: bool = False) -> PlainDisplay | LiveDisplay:
    """A live display on a terminal, else (or with ``plain``) line-per-event output;
    ``full``: the summary without caps."""
    stream = display_stream()
    if plain or not stream.isatty():
        return PlainDisplay(stream, full=full)
    return LiveDisplay(full=full, stream=stream)
