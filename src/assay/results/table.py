"""A plain aligned table for long listings (thousands of rows): columns padded to their
widest cell, styles as ANSI codes on a terminal and none elsewhere. rich's own Table
measures and wraps every cell, which takes seconds for a history of a thousand cases."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

Segment = tuple[str, str]  # text, rich style ("" for none)
Cell = Sequence[Segment]


def cell(text: str, style: str = "") -> Cell:
    return ((text, style),)


def render(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    right: frozenset[int] = frozenset(),
    styled: bool = False,
) -> list[str]:
    """The table's lines; ``right``: columns aligned right; ``styled``: with ANSI styles. A
    row of one cell (in a table of more columns) is a line of its own: a note under a row,
    as long as it is, which widens no column."""
    from rich.cells import cell_len

    if styled:
        from rich.color import ColorSystem
        from rich.console import Console
        from rich.style import Style

        system = {
            "standard": ColorSystem.STANDARD,
            "256": ColorSystem.EIGHT_BIT,
            "truecolor": ColorSystem.TRUECOLOR,
            "windows": ColorSystem.WINDOWS,
        }.get(Console(force_terminal=True).color_system or "", ColorSystem.STANDARD)
        cache: dict[str, Style] = {}

        def paint(text: str, style: str) -> str:
            if not style or not text:
                return text
            parsed = cache.get(style) or cache.setdefault(style, Style.parse(style))
            return parsed.render(text, color_system=system)
    else:

        def paint(text: str, style: str) -> str:
            return text

    head = [cell(h, "bold") for h in header]
    table = [head, *rows]
    widths = [0] * len(header)
    spans = len(header) > 1
    for row in table:
        if spans and len(row) == 1:
            continue
        for i, c in enumerate(row):
            widths[i] = max(widths[i], sum(cell_len(t) for t, _ in c))
    lines = []
    for row in table:
        if spans and len(row) == 1:
            lines.append("".join(paint(t, s) for t, s in row[0]).rstrip())
            continue
        parts = []
        for i, c in enumerate(row):
            pad = " " * (widths[i] - sum(cell_len(t) for t, _ in c))
            body = "".join(paint(t, s) for t, s in c)
            parts.append(pad + body if i in right else body + pad)
        lines.append("  ".join(parts).rstrip())
    return lines


def write(lines: Sequence[str], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write("\n".join(lines) + "\n")
    out.flush()
