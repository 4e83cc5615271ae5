"""The HTML report's plots, drawn by matplotlib as inline SVG (no script, works offline).

Only the object-oriented API is used (no pyplot: no global state, no GUI backend). Text
from tests (names, units) is never parsed as mathtext, and each figure's SVG ids get a salt
of their own, so many plots can share one page.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay import terminal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from assay.results.changes import ChangePoint, Point

# Colours that stay apart for colour-blind readers (Okabe & Ito).
BLUE, ORANGE, GREEN, RED, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999"
STAGE_COLOURS = {
    "setup": "#CC79A7",
    "build": ORANGE,
    "queued": GREY,
    "run": BLUE,
    "sanity": GREEN,
    "performance": "#56B4E9",
    "cleanup": "#F0E442",
}


def _text(text: object) -> str:
    """Text from a test as a label: its control characters and lone surrogates written as
    escapes (matplotlib writes them raw, and the SVG would not be XML), and the two
    noncharacters XML forbids too."""
    return terminal.line(text).replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")


@dataclass(frozen=True)
class Band:
    """A metric's reference: the value and the lowest and highest accepted values."""

    reference: float | None
    low: float | None
    high: float | None


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _svg(fig: Figure, salt: str) -> str:
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "sans-serif"}
    ):
        # No metadata: it only adds RDF namespaces and the date (the page has both).
        empty = dict.fromkeys(("Creator", "Date", "Format", "Type"))
        fig.savefig(out, format="svg", metadata=empty)
    return _own_ids(out.getvalue(), salt)


_SVG, _XLINK = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
_REF = re.compile(r"url\(#([^)]+)\)")


def _own_ids(text: str, salt: str) -> str:
    """The SVG without its XML prolog, every id (``figure_1``, ``axes_1``, clip paths...)
    prefixed with ``salt`` and every reference to one changed to match: the ids of many
    figures on one page must not collide."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("", _SVG)
    ET.register_namespace("xlink", _XLINK)
    root = ET.fromstring(text)  # noqa: S314 - matplotlib wrote it: no entities, text escaped
    href = f"{{{_XLINK}}}href"
    for element in root.iter():
        for name, value in element.attrib.items():
            if name == "id":
                element.set(name, f"{salt}-{value}")
            elif name == href and value.startswith("#"):
                element.set(name, f"#{salt}-{value[1:]}")
            elif "url(#" in value:
                element.set(name, _REF.sub(lambda m: f"url(#{salt}-{m.group(1)})", value))
    return ET.tostring(root, encoding="unicode")


def _style(ax: Axes) -> None:
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def metric_history(
    history: Sequence[Point],
    current: Sequence[float],
    unit: str | None,
    band: Band,
    changes: Sequence[ChangePoint],
    salt: str,
) -> str:
    """A metric's values by session (this session's samples last), its reference band,
    and the levels between change points."""
    fig = _figure(6.4, 2.6)
    ax = fig.add_subplot()
    _style(ax)
    sessions: list[str] = []
    xs: list[int] = []
    for p in history:
        if not sessions or sessions[-1] != p.session:
            sessions.append(p.session)
        xs.append(len(sessions) - 1)
    now = len(sessions)
    values = [p.value for p in history]
    if band.low is not None or band.high is not None:
        lo = band.low if band.low is not None else min([*values, *current, band.high or 0])
        hi = band.high if band.high is not None else max([*values, *current, band.low or 0])
        ax.axhspan(lo, hi, color=GREEN, alpha=0.12, linewidth=0, label="accepted")
    if band.reference is not None:
        ax.axhline(band.reference, color=GREEN, linewidth=1, linestyle="--", label="reference")
    if values:
        ax.plot(xs, values, "o", color=BLUE, markersize=3, label="earlier sessions")
    # The level of each segment between change points, as a step.
    every = [*values, *current]
    cut = [0, *(c.index for c in changes), len(every)]
    at = [*xs, *([now] * len(current))]
    for n, (a, b) in enumerate(itertools.pairwise(cut)):
        if b > a:
            level = sum(every[a:b]) / (b - a)
            ax.hlines(
                level,
                at[a] - 0.4,
                at[b - 1] + 0.4,
                color=ORANGE,
                linewidth=1.6,
                label="level" if n == 0 else "_nolegend_",
            )
    for c in changes:
        ax.axvline(at[c.index] - 0.5, color=RED, linewidth=1, linestyle=":")
    ax.plot([now] * len(current), current, "D", color=RED, markersize=5, label="this session")
    label = _text(unit) if unit else "value"
    ax.set_ylabel(label, parse_math=False)
    ax.set_xlabel("session (oldest to newest)")
    ax.set_xlim(-0.8, now + 0.8)
    ax.legend(loc="best", fontsize="small", frameon=False, ncols=3)
    return _svg(fig, salt)


def scaling(table: dict[str, Any], salt: str) -> str:
    """Speedup and parallel efficiency against the scaling parameter, with the ideal."""
    rows = [r for r in table["rows"] if r["speedup"] is not None]
    fig = _figure(6.4, 2.6)
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        _style(ax)
        ax.set_xlabel(_text(table["parameter"]), parse_math=False)
    sizes = [r["size"] for r in rows]
    base = sizes[0] if sizes else 1
    if sizes:
        left.plot(sizes, [s / base for s in sizes], "--", color=GREY, label="ideal")
        left.plot(sizes, [r["speedup"] for r in rows], "o-", color=BLUE, label="measured")
        right.axhline(100, color=GREY, linestyle="--")
        right.plot(sizes, [r["efficiency"] * 100 for r in rows], "o-", color=ORANGE)
        if len(set(sizes)) > 1 and min(sizes) > 0:
            for ax in (left, right):
                ax.set_xscale("log", base=2)
                ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
    left.set_ylabel("speedup")
    right.set_ylabel("efficiency (%)")
    right.set_ylim(bottom=0)
    left.legend(loc="upper left", fontsize="small", frameon=False)
    return _svg(fig, salt)


def durations(cases: Sequence[dict[str, Any]], salt: str) -> str:
    """The slowest cases' time, split by stage, longest on top."""
    fig = _figure(6.4, 1.0 + 0.28 * max(len(cases), 1))
    ax = fig.add_subplot()
    _style(ax)
    names = [_short(_text(c["name"]), repeat=c.get("repeat") or 1) for c in cases]
    y = list(range(len(cases)))[::-1]
    left = [0.0] * len(cases)
    for stage, colour in STAGE_COLOURS.items():
        widths = [float(c["timings"].get(stage, 0.0)) for c in cases]
        if any(widths):
            ax.barh(y, widths, left=left, color=colour, label=stage, height=0.7)
            left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(y, names)
    for tick in ax.get_yticklabels():
        tick.set_parse_math(False)
        tick.set_fontsize("small")
    ax.set_xlabel("seconds")
    fig.legend(loc="outside lower center", fontsize="small", frameon=False, ncols=7)
    return _svg(fig, salt)


def _short(name: str, limit: int = 48, repeat: int = 1) -> str:
    """A case's name cut to ``limit`` characters, with its repetition after the first."""
    suffix = f" #{repeat}" if repeat > 1 else ""
    limit -= len(suffix)
    return (name if len(name) <= limit else name[: limit - 1] + "\u2026") + suffix
