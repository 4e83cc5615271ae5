"""Scaling tables: the same case at several node or task counts, with speedup and efficiency.

A series is every case of one test that differs only in its scaling parameter (the test's
``scaling`` field, e.g. ``"nodes"``), on one partition and environment. Time is the run
stage's time (with ``--repeat``, the median of a size's repetitions). Speedup is relative
to the smallest size; parallel efficiency is speedup divided by the size ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.results.model import CaseResult, Status


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def tables(results: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """One table per scaling series found in ``results`` (plain data for the report)."""
    series: dict[tuple[str, str, str, str, str], list[tuple[float, CaseResult]]] = {}
    for result in results:
        param = result.scaling
        if not param or param not in result.params:
            continue
        size = _number(result.params[param])
        if size is None or size <= 0:
            continue
        rest = ",".join(f"{k}={v}" for k, v in result.params.items() if k != param)
        key = (result.test, rest, param, result.partition, result.environment)
        series.setdefault(key, []).append((size, result))
    out = []
    for (test, rest, param, partition, environment), members in series.items():
        # Repetitions (--repeat) are samples of one size: its time is their median.
        sizes: dict[float, list[CaseResult]] = {}
        for size, result in sorted(members, key=lambda m: m[0]):
            sizes.setdefault(size, []).append(result)
        base_size = min(sizes)
        base_time = _median_run(sizes[base_size])
        rows = []
        for size, results in sizes.items():
            time = _median_run(results)
            speedup = base_time / time if base_time and time else None
            efficiency = speedup / (size / base_size) if speedup else None
            failed = [r for r in results if r.status != Status.PASSED]
            rows.append(
                {
                    "size": int(size) if size.is_integer() else size,
                    "case": results[0].name,
                    "status": str(failed[0].status if failed else Status.PASSED),
                    "time": time,
                    "speedup": speedup,
                    "efficiency": efficiency,
                    "samples": len(results),
                }
            )
        out.append(
            {
                "test": test,
                "series": rest,
                "parameter": param,
                "system": members[0][1].system,
                "partition": partition,
                "environment": environment,
                "rows": rows,
            }
        )
    return out


def _median_run(results: list[CaseResult]) -> float | None:
    """The median run-stage time of the passed ones among ``results``."""
    times = [r.timings["run"] for r in results if r.status == Status.PASSED and "run" in r.timings]
    if not times:
        return None
    import statistics  # (here: only a run with a scaling series needs it; see samples)

    return statistics.median(times)


def format_table(table: dict[str, Any]) -> list[str]:
    """A scaling table as aligned text lines."""
    series = f"[{table['series']}]" if table["series"] else ""
    title = f"{table['test']}{series} @{table['system']}:{table['partition']}"
    title += f"+{table['environment']}"
    lines = [
        f"scaling of {title}",
        f"  {table['parameter']:>8}  {'time':>10}  {'speedup':>8}  {'efficiency':>10}",
    ]
    for row in table["rows"]:
        time = f"{row['time']:.3f} s" if row["time"] is not None else row["status"]
        speedup = f"{row['speedup']:.2f}x" if row["speedup"] is not None else "-"
        eff = f"{row['efficiency'] * 100:.0f}%" if row["efficiency"] is not None else "-"
        lines.append(f"  {row['size']:>8}  {time:>10}  {speedup:>8}  {eff:>10}")
    return lines
