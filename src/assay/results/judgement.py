"""What history says of one change between two sessions (``assay compare``'s significance):
the verdict as data, and the short text its table shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal[
    "regression",
    "improvement",
    "change",
    "not significant",
    "not judged yet",
    "too little history",
]
SIGNIFICANT = ("regression", "improvement", "change")


@dataclass(frozen=True)
class Judgement:
    """A change judged against its series' history up to B.

    ``pvalue`` and ``at`` (the first session of the new level) for a significant change;
    ``samples`` (B's) and ``needed`` (``min_size``) when B took too few to be judged."""

    verdict: Verdict
    pvalue: float | None = None
    at: str | None = None
    samples: int | None = None
    needed: int | None = None

    def text(self, b: str) -> str:
        """The table's words: ``regression, p=3e-11`` (``, at S`` when the new level began
        at S, before B), ``not judged yet: 1 sample (2 needed; run with --repeat 2)``, or
        the verdict itself."""
        if self.verdict in SIGNIFICANT:
            where = "" if self.at in (None, b) else f", at {self.at}"
            return f"{self.verdict}, p={self.pvalue:.1g}{where}"
        if self.verdict == "not judged yet":
            plural = "" if self.samples == 1 else "s"
            return (
                f"not judged yet: {self.samples} sample{plural} ({self.needed} needed; "
                f"run with --repeat {self.needed})"
            )
        return self.verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "pvalue": self.pvalue,
            "at": self.at,
            "samples": self.samples,
            "needed": self.needed,
        }
