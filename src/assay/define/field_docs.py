"""The table of built-in fields in docs/test-api.md, written from :mod:`assay.define.fields`.

``python -m assay.define.field_docs [FILE]`` rewrites the table between its two markers (FILE
defaults to docs/test-api.md); ``--check`` only says whether it is up to date (exit 1 if not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assay.define.fields import DOC_ONLY, FIELDS, show_default

BEGIN = "<!-- fields: written by python -m assay.define.field_docs from assay/define/fields.py -->"
END = "<!-- end of fields -->"


def render() -> str:
    """The markdown table of every built-in field."""
    lines = [
        "| field | type | default | meaning | `-S` | per variant | suite key |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, builtin in FIELDS.items():
        cells = [
            f"`{name}`",
            builtin.kind,
            show_default(builtin),
            builtin.doc,
            "yes" if builtin.parse is not None else "",
            "yes" if builtin.per_variant else "",
            f"`{builtin.suite.key}`" if builtin.suite is not None else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for name, (kind, default, doc) in DOC_ONLY.items():
        lines.append("| " + " | ".join([f"`{name}`", kind, default, doc, "", "", ""]) + " |")
    return "\n".join(lines) + "\n"


def current_table(text: str) -> str | None:
    """The table between the markers of ``text``, or ``None`` without markers."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start + len(BEGIN) :].split(END, 1)[0].lstrip("\n")


def rewrite(text: str) -> str:
    """``text`` with the table between its markers written anew."""
    if current_table(text) is None:
        raise ValueError(f"no table markers: add {BEGIN!r} and {END!r} around it")
    head, rest = text.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{render()}{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assay.define.field_docs", description=__doc__)
    parser.add_argument("file", nargs="?", default="docs/test-api.md", type=Path)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)
    path: Path = args.file
    try:
        text = path.read_text()
        new = rewrite(text)
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    if new == text:
        return 0
    if args.check:
        print(f"{path}: the table of fields is out of date; run {parser.prog}", file=sys.stderr)
        return 1
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
