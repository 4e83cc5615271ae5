"""The suite file format: typed tables that ``assay.define.suite`` compiles into Test classes.

Documented in docs/suites.md. Every table forbids unknown keys, so a typo is an error that
names the key and suggests the right one.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import msgspec

from assay.define.field_checks import MAX_COUNT
from assay.durations import Duration

PositiveInt = Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)]
ExitCodes = list[int] | Literal["any", "nonzero"]
"""``exit_codes``: the codes that pass, "any", or "nonzero" (any but 0)."""


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class Numeric(_Table, kw_only=True, frozen=True):
    rtol: float = 0.0
    atol: float = 0.0


class Field(_Table, kw_only=True, frozen=True):
    pattern: str
    rtol: float | None = None
    atol: float | None = None
    skip: bool = False


class Compare(_Table, kw_only=True, frozen=True):
    """``[suite.compare]``: how actual outputs are held against ``expected/``."""

    files: list[str] = []
    mode: Literal["numeric", "text"] | None = None
    whitespace: Literal["significant", "ignore"] | None = None
    strings: str | list[str] | None = None  # JSON strings: the engine checks the words
    rtol: float | None = None
    atol: float | None = None
    numeric: Numeric | None = None  # the same as rtol/atol, as a table
    ignore: list[str] = []
    fields: list[Field] = []
    rules: list[dict[str, Any]] = []  # passed to the comparison engine, which checks them
    complete: list[str] = []
    command: str | None = None
    command_timeout: float | None = None
    tools: str | None = None  # a directory of the suite: {tools} in a command names it
    max_differences: PositiveInt = 20

    def engine_spec(self, suite_dir: str | None = None) -> dict[str, Any]:
        """The keys of a comparison-engine spec (without ``expected`` and ``actual``);
        ``tools`` is made absolute with ``suite_dir``."""
        spec: dict[str, Any] = {"max_differences": self.max_differences}
        rtol = self.rtol if self.rtol is not None else (self.numeric.rtol if self.numeric else 0)
        atol = self.atol if self.atol is not None else (self.numeric.atol if self.numeric else 0)
        spec["rtol"], spec["atol"] = rtol, atol
        if self.mode is not None:
            spec["mode"] = self.mode
        if self.whitespace is not None:
            spec["whitespace"] = self.whitespace
        if self.strings is not None:
            spec["strings"] = self.strings if isinstance(self.strings, str) else list(self.strings)
        if self.files:
            spec["files"] = list(self.files)
        if self.ignore:
            spec["ignore"] = list(self.ignore)
        if self.fields:
            spec["fields"] = [
                {k: v for k, v in msgspec.structs.asdict(f).items() if v is not None}
                for f in self.fields
            ]
        if self.rules:
            spec["rules"] = [dict(r) for r in self.rules]
        if self.complete:
            spec["complete"] = list(self.complete)
        if self.command:
            spec["command"] = self.command
        if self.command_timeout is not None:
            spec["command_timeout"] = self.command_timeout
        if self.tools is not None:
            spec["tools"] = os.path.join(suite_dir, self.tools) if suite_dir else self.tools
        return spec


class Metric(_Table, kw_only=True, frozen=True):
    """``[suite.metrics.NAME]``: a figure of merit read from the output."""

    regex: str
    file: str = "stdout"
    unit: str | None = None
    group: PositiveInt = 1
    better: Literal["higher", "lower"] | None = None


class Reference(_Table, kw_only=True, frozen=True):
    value: float
    lower: float | None = None
    upper: float | None = None
    lower_abs: float | None = None
    upper_abs: float | None = None
    unit: str | None = None


class Group(_Table, kw_only=True, frozen=True):
    """``[[suite.groups]]``: settings for the reference cases whose names match; each key
    not given keeps the suite's value (``tags`` and ``env`` add to the suite's)."""

    cases: list[str]
    tags: list[str] = []
    time_limit: Duration | None = None
    partitions: list[str] | None = None
    environments: list[str] | None = None
    command: str | None = None
    env: dict[str, str] = {}
    prerun: list[str] | None = None
    postrun: list[str] | None = None
    keep_files: list[str] | None = None
    exit_codes: ExitCodes | None = None
    skip_exit_codes: list[int] | None = None
    tasks: PositiveInt | None = None
    nodes: PositiveInt | None = None
    tasks_per_node: PositiveInt | None = None
    cpus_per_task: PositiveInt | None = None
    exclusive: bool | None = None
    compare: Compare | None = None


GROUP_FIELDS: tuple[str, ...] = (
    *("time_limit", "partitions", "environments", "command", "prerun", "postrun"),
    *("keep_files", "exit_codes", "tasks", "nodes", "tasks_per_node", "cpus_per_task"),
    *("exclusive", "skip_exit_codes"),
)
"""The keys of a group that replace the suite key of the same name (``tags``, ``env`` add to
the suite's; ``compare`` replaces the whole ``[suite.compare]``)."""


class Scaling(_Table, kw_only=True, frozen=True):
    """``[suite.scaling]``: the same cases at several node, task or thread counts."""

    nodes: list[PositiveInt] | None = None
    tasks: list[PositiveInt] | None = None
    cpus_per_task: list[PositiveInt] | None = None
    cases: list[str] = msgspec.field(default_factory=lambda: ["*"])
    command: str | None = None
    env: dict[str, str] = {}
    tags: list[str] = msgspec.field(default_factory=lambda: ["scaling"])
    time_limit: Duration | None = None


class Body(_Table, kw_only=True, frozen=True):
    """``[suite]``."""

    name: str | None = None
    description: str = ""
    build: str | None = None
    overlays: list[str] = []
    cases: str | list[str] | None = None
    expected: str | bool = "expected"  # false: pairs' inputs without expected outputs
    beside: list[str] = []
    command: str
    time_limit: Duration | None = None
    code_time_limit: Duration | None = None
    tags: list[str] = []
    env: dict[str, str] = {}
    variables: dict[str, str | int | float | bool] = {}
    partitions: list[str] = msgspec.field(default_factory=lambda: ["*"])
    environments: list[str] = msgspec.field(default_factory=lambda: ["*"])
    tag_partitions: dict[str, list[str]] = {}
    tasks: PositiveInt | None = None
    nodes: PositiveInt | None = None
    tasks_per_node: PositiveInt | None = None
    cpus_per_task: PositiveInt | None = None
    exclusive: bool = False
    exit_codes: ExitCodes = msgspec.field(default_factory=lambda: [0])
    skip_exit_codes: list[int] = []
    depends_on: list[str] = []
    prerun: list[str] = []
    postrun: list[str] = []
    keep_files: list[str] = []
    writable: list[str] = []
    compare: Compare | None = None
    metrics: dict[str, Metric] = {}
    references: dict[str, dict[str, Reference]] = {}
    groups: list[Group] = []
    sweep: list[dict[str, Any]] = []
    scaling: Scaling | None = None


class File(_Table, kw_only=True, frozen=True):
    suite: Body


class SweepSettings(_Table, kw_only=True, frozen=True):
    """The settings of a ``[[suite.sweep]]`` table (its other keys are parameters)."""

    name: str | None = None
    points: list[dict[str, Any]] | str | None = None
    template: str | list[str] | None = None
    output: str | list[str] | None = None
    inputs: str | None = None
    exclude: list[dict[str, Any]] = []
    command: str | None = None
    expected: str | None = None
    tags: list[str] = []
    time_limit: Duration | None = None
    metrics: dict[str, Metric] = {}
    references: dict[str, dict[str, Reference]] = {}


SWEEP_KEYS = {
    "name": "the sweep's name (the test is SUITE-NAME)",
    "points": "an explicit list of points (tables of parameter values), or a CSV file of them",
    "template": "Jinja2 template(s) rendered into each point's stage dir",
    "output": "the rendered files' names (default: each template's name without .j2)",
    "inputs": "a directory whose files every point gets",
    "exclude": "points to leave out, as tables of values",
    "command": "the command (default: the suite's)",
    "expected": "per-point expected outputs, e.g. 'sweeps/{mesh}-{solver}'",
    "tags": "tags of the sweep's cases",
    "time_limit": "the run-stage time limit",
    "metrics": "figures of merit read only from the sweep's cases ([suite.sweep.metrics.NAME])",
    "references": "references of the sweep's metrics, as [suite.references]",
}
"""Keys of a ``[[suite.sweep]]`` table that are not parameters."""
