"""From results to rows: what one finished case writes, and the per-case summary it updates."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import msgspec

from assay.digests import blake2b
from assay.results.db.backends import Writer
from assay.results.model import CaseResult, Status

RECENT = 5  # durations kept per case for scheduling
_encode = msgspec.json.Encoder().encode
_flatten = itertools.chain.from_iterable  # (rows into one statement's values, in C)
_decode = msgspec.json.Decoder(list[list[Any]]).decode
# A series' recent durations as they are stored, one undecoded text per entry (see
# merge_series: the entries a newer run keeps are copied, not parsed and written again).
_entries = msgspec.json.Decoder(list[msgspec.Raw]).decode


def round6(value: float) -> float:
    """``round(value, 6)``, as stored (seconds to the microsecond), at a third of its cost:
    ``round`` with digits converts to decimal and back, and ran 7 times per case recorded.
    The two differ only when ``value * 1e6`` is within an ulp of a half (none in 2 million
    random durations)."""
    return round(value * 1e6) / 1e6


def decode_recent(text: str) -> list[list[Any]]:
    """A series' ``recent`` column: [[at, work, run, session, rep], ...], newest first."""
    return _decode(text)


VERDICTS = (Status.PASSED.value, Status.FAILED.value, Status.ABORTED.value)
_SKIPPED = Status.SKIPPED.value
_CHUNK = 512  # values per IN (...): under SQLite's and PostgreSQL's parameter limits


def canonical_params(params: Mapping[str, str]) -> str:
    """A case's parameters as stored: JSON with sorted keys, so equal params compare equal."""
    return _encode(dict(sorted(params.items()))).decode()


def series_of(
    test: str,
    params: Mapping[str, str],
    system: str,
    partition: str,
    environment: str,
    nodes: int | None,
) -> str:
    """The name of a case across sessions: a hash of test, parameter values,
    ``system:partition``, environment and node count."""
    return _series_hash(test, sorted(params.items()), f"{system}:{partition}", environment, nodes)


def _series_hash(
    test: str, items: list[tuple[str, str]], place: str, environment: str, nodes: int | None
) -> str:
    # JSON as json.dumps(..., separators=(",", ":"), ensure_ascii=False) writes it (msgspec
    # writes the same bytes, faster): the hash must never change.
    key = _encode([test, items, place, environment, nodes])
    return blake2b(key, digest_size=16).hexdigest()


def result_series(result: CaseResult) -> str:
    return series_of(
        result.test,
        result.params,
        result.system,
        result.partition,
        result.environment,
        result.nodes,
    )


def work_time(result: CaseResult) -> float | None:
    """How long a case kept its slot busy, less any wait in a batch queue (which depends on
    the cluster, not on the case): what scheduling plans with."""
    if not result.timings:
        return None
    return max(0.0, result.duration - result.timings.get("queued", 0.0))


class SeriesUpdate(msgspec.Struct, gc=False):
    """What one recorded case tells its series. (A struct, made in C: a dataclass's
    ``__init__`` of 15 fields ran in Python for every case recorded; no cycles: gc=False.)"""

    series: str
    case_id: str
    name: str
    test: str
    params: str
    system: str
    part: str
    env: str
    nodes: int | None
    at: float
    session_id: str
    status: str
    work: float | None  # seconds, see work_time
    run: float | None  # the run stage alone (what a pack plans with)
    rep: int = 0
    # A skip its own command said (skip_exit_codes): the case ran, and that is its verdict
    # (other skips, of a dependency's failure or --exit-first, leave the last verdict be).
    said_skip: bool = False


class CaseRows(msgspec.Struct, gc=False):
    """Everything one finished case writes (rows of plain values: no cycles)."""

    key: tuple[str, str, int]  # session, case id, repetition
    case: tuple[Any, ...]
    metrics: list[tuple[Any, ...]]
    artifacts: list[tuple[Any, ...]]
    comparisons: list[tuple[Any, ...]]
    series: SeriesUpdate


def case_rows(session_id: str, at: float, result: CaseResult) -> CaseRows:
    """The rows of one result (one repetition of a case: ``rep`` is its ``repeat``)."""
    # Each value is computed once (this runs per case, holding the GIL the runner needs):
    # the params sorted once for the series and their stored form, the duration once.
    rep = result.repeat
    items = sorted(result.params.items())
    system, partition, environment = result.system, result.partition, result.environment
    series = _series_hash(result.test, items, f"{system}:{partition}", environment, result.nodes)
    params = _encode(dict(items)).decode()
    failure = result.failure
    raw = result.timings
    timings = {k: round(v * 1e6) / 1e6 for k, v in raw.items()}  # round6, inlined
    duration = sum(raw.values()) if raw else None
    queued = raw.get("queued")
    run = raw.get("run")
    # (Status is a StrEnum: str() is its value as a plain str, in C; .value runs Python.)
    status = str(result.status)
    key = (session_id, result.id, rep)
    case = (
        *key,
        series,
        at,
        result.name,
        result.test,
        result.variant,
        params,
        system,
        partition,
        environment,
        result.nodes,
        status,
        failure.stage if failure else None,
        failure.reason if failure else None,
        result.attempts,
        result.started,
        result.finished,
        duration,
        queued,
        _encode(timings).decode(),
        run,
        result.skip_reason,
    )
    # (most cases have no metric, artifact or comparison: no comprehension is run for them)
    metrics = (
        [
            (
                *key,
                m.name,
                series,
                at,
                m.value,
                m.unit,
                m.reference,
                m.lower,
                m.upper,
                m.low_bound,
                m.high_bound,
                m.verdict,
            )
            for m in result.metrics
        ]
        if result.metrics
        else []
    )
    artifacts = (
        [(*key, use.artifact, use.layer, use.ref, use.tree) for use in result.artifacts]
        if result.artifacts
        else []
    )
    comparisons = (
        [
            (
                *key,
                i,
                1 if c.get("ok") else 0,
                str(c.get("summary", "")),
                json.dumps(c, separators=(",", ":"), default=str),
            )
            for i, c in enumerate(result.comparisons)
        ]
        if result.comparisons
        else []
    )
    update = SeriesUpdate(
        series,
        result.id,
        result.name,
        result.test,
        params,
        system,
        partition,
        environment,
        result.nodes,
        at,
        session_id,
        status,
        None if duration is None else max(0.0, duration - (queued or 0.0)),  # work_time
        run,
        rep,
        status == _SKIPPED and result.exit_code is not None,
    )
    return CaseRows(key, case, metrics, artifacts, comparisons, update)


# The order of the index each table's new rows reach at random places (see write_cases): a
# case row's series, session start and repetition; a metric row's series, name, start, rep.
_case_order = itemgetter(3, 4, 2)
_metric_order = itemgetter(4, 3, 5, 2)


CASE_COLUMNS = (
    "session_id, case_id, rep, series, at, name, test, variant, params, system, part, env,"
    " nodes, status, failure_stage, failure_reason, attempts, started, finished, duration,"
    " queue_wait, timings, run_time, skip_reason"
)
METRIC_COLUMNS = (
    "session_id, case_id, rep, name, series, at, value, unit, reference, lower_rel, upper_rel,"
    " low_bound, high_bound, verdict"
)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def write_cases(writer: Writer, items: Sequence[CaseRows], replace: bool = True) -> None:
    """Write the rows of finished cases; ``replace``: they may have been written before (a
    resumed or re-imported session, a retried write), so their old rows go first."""
    if not items:
        return
    if replace:
        keys = [item.key for item in items]
        for table in ("metrics", "artifacts", "comparisons", "cases"):
            writer.executemany(
                f"DELETE FROM {table} WHERE session_id = ? AND case_id = ? AND rep = ?",  # noqa: S608 - table names are ours
                keys,
            )
    # In the order of the series index, which new rows reach at random places: each leaf
    # page of it is then read and written once per batch, not once per row it gets (the
    # recorder keeps few pages in memory; 2,000 cases in random order read 18 MB and
    # wrote 29 MB to record 3.5 MB). Metrics likewise, in the order of theirs.
    insert(writer, "cases", CASE_COLUMNS, sorted([item.case for item in items], key=_case_order))
    metrics = [m for item in items for m in item.metrics]
    insert(writer, "metrics", METRIC_COLUMNS, sorted(metrics, key=_metric_order))
    insert(
        writer,
        "artifacts",
        "session_id, case_id, rep, artifact, layer, ref, tree",
        [a for item in items for a in item.artifacts],
    )
    insert(
        writer,
        "comparisons",
        "session_id, case_id, rep, idx, ok, summary, detail",
        [c for item in items for c in item.comparisons],
    )
    merge_series(writer, [item.series for item in items])


_PARAMETERS = 30000  # per statement: under SQLite's 32766 and PostgreSQL's 65535
# Rows per INSERT at most. Statements come in a few sizes only (this and the powers of two
# below it), so each text is prepared once and then reused from the connection's statement
# cache: a text per batch size compiled a statement per batch, and SQLite's cache of 128
# kept megabytes of them.
_ROWS = 64


def insert(
    writer: Writer, table: str, columns: str, rows: Sequence[Sequence[Any]], suffix: str = ""
) -> None:
    """Insert rows with multi-row ``VALUES`` statements: one statement step per many rows
    instead of one per row (each step hands the GIL to the event loop and back)."""
    if not rows:
        return
    width = len(rows[0])
    one = f"({_marks(width)})"
    most = min(_ROWS, _power_below(max(1, _PARAMETERS // width)))
    start = 0
    for size in statement_sizes(len(rows), most):
        part = rows[start : start + size]
        start += size
        writer.execute(
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * size)}{suffix}",  # noqa: S608 - ours
            list(_flatten(part)),
        )


def _power_below(n: int) -> int:
    """The largest power of two <= n (n >= 1)."""
    return 1 << (n.bit_length() - 1)


def statement_sizes(n: int, most: int) -> Iterable[int]:
    """``n`` rows as statement sizes: ``most`` (a power of two) while they last, then the
    powers of two of the rest, largest first."""
    while n >= most:
        yield most
        n -= most
    bit = most >> 1
    while n:
        if n & bit:
            yield bit
            n -= bit
        bit >>= 1


def chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def in_list(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The marks and parameters of ``IN (...)`` for ``values`` (not empty): the last value
    repeated up to the next power of two, so that IN lists come in a few lengths (see
    :data:`_ROWS`); the set of values is the same."""
    size = 1 << (len(values) - 1).bit_length()
    return _marks(size), [*values, *[values[-1]] * (size - len(values))]


_SERIES_COLUMNS = (
    "series, case_id, name, test, params, system, part, env, nodes, last_at, last_session,"
    " last_status, recent"
)
# The columns of a series a merge needs to read (see merge_series).
_SERIES_STATE = "series, last_at, last_session, last_status, recent"


def _update_order(u: SeriesUpdate) -> tuple[float, int]:
    return u.at, u.rep


def _recent_order(entry: list[Any]) -> tuple[float, int]:
    return entry[0], entry[4]


def merge_series(writer: Writer, updates: Sequence[SeriesUpdate]) -> None:
    """Fold recorded cases into the per-case summary: newest identity, last verdict (skips
    are not verdicts), the newest :data:`RECENT` durations of passes. Recording the same
    case of the same session again changes nothing."""
    if not updates:
        return
    ordered = sorted(updates, key=_update_order)
    names = sorted({u.series for u in updates})
    # What the merge reads of a series: its last verdict and durations. Its identity (eight
    # more columns, with the longest texts) only matters when the series' first case here
    # is older than its last verdict (an older session imported late): then it is kept,
    # and read; a live session's cases are the newest, and replace it.
    current: dict[str, list[Any]] = {}
    for part in chunks(names):
        marks, params = in_list(part)
        for found in writer.query(
            f"SELECT {_SERIES_STATE} FROM series WHERE series IN ({marks})",  # noqa: S608
            params,
        ):
            current[found[0]] = [found[0], None, None, None, None, None, None, None, None]
            current[found[0]] += found[1:]
    older: set[str] = set()
    first: set[str] = set()
    for u in ordered:
        if u.series in first:
            continue
        first.add(u.series)
        row = current.get(u.series)
        if row is not None and row[9] is not None and u.at < row[9]:
            older.add(u.series)
    if older:
        kept = sorted(older)
        for part in chunks(kept):
            marks, params = in_list(part)
            for found in writer.query(
                f"SELECT {_SERIES_COLUMNS} FROM series WHERE series IN ({marks})",  # noqa: S608
                params,
            ):
                current[found[0]] = list(found)
    passed = Status.PASSED.value
    for u in ordered:
        row = current.get(u.series)
        if row is None:
            row = [u.series, u.case_id, u.name, u.test, u.params, u.system, u.part, u.env]
            row += [u.nodes, None, None, None, "[]"]
            current[u.series] = row
        at, rep, session = u.at, u.rep, u.session_id
        last = row[9]
        if last is None or at >= last:
            row[1:9] = [u.case_id, u.name, u.test, u.params, u.system, u.part, u.env, u.nodes]
            if u.status in VERDICTS or u.said_skip:
                row[9], row[10], row[11] = at, session, u.status
        work = u.work if u.status == passed else None
        entry = None if work is None else [at, round6(work), u.run and round6(u.run), session, rep]
        if last is None or at > last:
            # The usual case, a live session's: every entry is a verdict no newer than the
            # last (so none of this run), and this one goes in front; the others stay as
            # they were written, newest first, at most RECENT.
            if entry is not None:
                others = _entries(row[12])[: RECENT - 1]
                row[12] = _encode([entry, *others]).decode()
            continue
        # Entries are kept newest first by (at, rep); this case's own entry, if recorded
        # before (a resumed session, a re-import), is replaced.
        recent = [e for e in _decode(row[12]) if e[4] != rep or e[3] != session]
        if entry is not None:
            if not recent or (at, rep) > (recent[0][0], recent[0][4]):
                recent.insert(0, entry)  # the usual case: the newest, in its place already
            else:
                recent.append(entry)
                recent.sort(key=_recent_order, reverse=True)
        else:
            recent.sort(key=_recent_order, reverse=True)
        row[12] = _encode(recent[:RECENT]).decode()
    insert(
        writer,
        "series",
        _SERIES_COLUMNS,
        [tuple(current[name]) for name in names],
        " ON CONFLICT (series) DO UPDATE SET case_id = excluded.case_id,"
        " name = excluded.name, test = excluded.test, params = excluded.params,"
        " system = excluded.system, part = excluded.part, env = excluded.env,"
        " nodes = excluded.nodes, last_at = excluded.last_at,"
        " last_session = excluded.last_session, last_status = excluded.last_status,"
        " recent = excluded.recent",
    )
