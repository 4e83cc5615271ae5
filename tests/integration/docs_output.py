"""Examples of assay's output in the docs, made by real runs.

A block of output in docs/*.md follows a marker that says how it was made::

    <!-- output: docs/examples/failures: assay run parse.suite.toml --plain --full -->

The commands (``;`` between several: the block shows the last one's output) run in a
fresh copy of the directory, with 100 columns; the block is their output from the summary's
first line on, with what changes from run to run (session ids, times) written as
``<session>`` and ``<time>``. tests/integration/test_docs.py checks every block against a new run;
``python -m tests.integration.docs_output`` writes them again after a change.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, run_assay

MARKER = re.compile(
    r"^<!-- output: (?P<dir>[^:]+): (?P<commands>.+?) -->\n```\n(?P<block>.*?)^```$", re.M | re.S
)
_SESSION = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")
_TIME = re.compile(r" in [0-9.]+(?:ms|s|m|h)[0-9.smh]*$", re.M)
_LEFT_OUT = ("report: ", "first estimate ")
_START = re.compile(
    r"^(\d+ case\(s\) failed|\d+ metric\(s\) not judged|note: |blessing |nothing to bless"
    r"|\[ SKIP\] )",  # (a run without failures: from its first skipped case on; --serial)
    re.M,
)


@dataclass(frozen=True)
class Example:
    doc: Path
    line: int
    directory: str
    commands: str
    block: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def examples(docs: list[Path]) -> list[Example]:
    """Every marked output block of ``docs``."""
    found = []
    for doc in docs:
        text = doc.read_text()
        for match in MARKER.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Example(doc, line, match["dir"], match["commands"], match["block"]))
    return found


def render(example: Example, scratch: Path) -> str:
    """What the example's commands print now, as the docs show it."""
    work = scratch / "example"
    if work.exists():
        raise AssertionError(f"{work} exists: give an empty scratch directory")
    shutil.copytree(ROOT / example.directory, work, symlinks=True)
    output = ""
    for command in example.commands.split(" ; "):
        words = shlex.split(command)
        assert words[0] == "assay", f"{example.where}: commands start with assay: {command}"
        output = run_assay(*words[1:], cwd=work, timeout=300, env={"COLUMNS": "100"}).stdout
    start = _START.search(output)
    text = output[start.start() :] if start else output
    text = _SESSION.sub("<session>", text)
    text = _TIME.sub(" in <time>", text)
    # Left out: the report's path, and how far the first time-left estimate was off (its
    # times, and whether one was made at all in a run this short, vary from run to run).
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith(_LEFT_OUT))


def main() -> None:  # pragma: no cover - a maintainer's tool
    """Write every marked block again from a new run."""
    import tempfile

    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    docs += sorted((ROOT / "examples").glob("*/README.md"))
    for example in reversed(examples(docs)):
        with tempfile.TemporaryDirectory() as scratch:
            new = render(example, Path(scratch))
        text = example.doc.read_text()
        old = f"{example.commands} -->\n```\n{example.block}```"
        example.doc.write_text(text.replace(old, f"{example.commands} -->\n```\n{new}```", 1))
        print(f"{example.where}: {'unchanged' if new == example.block else 'written'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
