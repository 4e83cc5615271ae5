"""What a ReFrame option is in assay: the hint under click's "No such option" when a
ReFrame user's hands type one (``-r``, ``--exec-policy=serial``, ``--performance-report``).
docs/from-reframe.md has the whole mapping; the options both share (``-n``, ``-x``, ``-t``,
``-T``, ``-S``, ``--system``, ``--prefix``, ``--max-retries``, ``--repeat``, ``--failed``)
never get here."""

from __future__ import annotations

_RUN = "`assay run PATHS` (test files and directories as arguments)"
_LIST = "`assay list PATHS`"
_MODULES = "an environment's modules in the config (docs/config.md#environment-modules)"
_STORED = "`assay history` and `assay compare` (docs/history.md)"
_NONE = "assay has no such option"

# Long and short names of ReFrame 4's options that assay has under another name or not at
# all, with what assay does instead.
_ASSAY: dict[str, str] = {
    "-c": _RUN,
    "--checkpath": _RUN,
    "-R": "directories are searched recursively without an option",
    "--recursive": "directories are searched recursively without an option",
    "-r": _RUN,
    "--run": _RUN,
    "-l": _LIST,
    "--list": _LIST,
    "-L": "`assay list -v PATHS`",
    "--list-detailed": "`assay list -v PATHS`",
    "--list-tags": "`assay list --json PATHS` (each case's tags)",
    "--describe": "`assay list --json PATHS`",
    "--dry-run": "`assay list PATHS`; the scripts each case runs are in its output dir",
    "-C": "-c FILE (a TOML file: docs/config.md)",
    "--config-file": "-c FILE (a TOML file: docs/config.md)",
    "--prgenv": "-e PATTERN",
    "--exec-policy": "--serial for one case at a time; cases run at once by default",
    "--performance-report": "none needed: every run ends with a table of each metric against "
    "its reference and bounds, and " + _STORED + " hold metrics against past sessions",
    "--keep-stage-files": "--keep-stage",
    "--restore-session": "--resume (finish the newest session) or --failed (run again what failed)",
    "--maxfail": "--exit-first (stop starting cases after the first failure)",
    "--reruns": "--repeat N",
    "--report-file": "--report FILE",
    "--report-junit": "--junit FILE",
    "-E": "-P NAME=VALUE (a parameter's value), -n REGEX or -t TAG",
    "--expr": "-P NAME=VALUE (a parameter's value), -n REGEX or -t TAG",
    "-J": "the partition's `slurm` table in the config (docs/slurm.md)",
    "--job-option": "the partition's `slurm` table in the config (docs/slurm.md)",
    "-m": _MODULES,
    "--module": _MODULES,
    "-M": _MODULES,
    "--map-module": _MODULES,
    "--module-mappings": _MODULES,
    "--module-path": _MODULES,
    "--unload-module": _MODULES,
    "--purge-env": _MODULES,
    "-o": "--prefix DIR (each session's outputs go to DIR/runs/ID/output)",
    "--output": "--prefix DIR (each session's outputs go to DIR/runs/ID/output)",
    "-s": "--prefix DIR (each session's stage dirs go to DIR/runs/ID/stage)",
    "--stage": "--prefix DIR (each session's stage dirs go to DIR/runs/ID/stage)",
    "--timestamp": "every session has a directory of its own under PREFIX/runs/",
    "--perflogdir": "the results database (docs/history.md), which records every metric",
    "--save-log-files": "each session's outputs and report stay under PREFIX/runs/ID/",
    "--performance-compare": "`assay compare` (docs/history.md)",
    "--list-stored-sessions": _STORED,
    "--list-stored-testcases": _STORED,
    "--show-config": "`assay config`",
    "--nocolor": "--plain",
    "--skip-sanity-check": _NONE + "; a case's sanity always runs",
    "--skip-performance-check": _NONE + "; a metric without a reference is only recorded",
    "--skip-system-check": _NONE + "; a test runs where its `systems` patterns match",
    "--skip-prgenv-check": _NONE + "; a test runs where its `environments` patterns match",
    "--mode": _NONE + "; keep the options in a script or shell alias",
    "--distribute": _NONE,
    "--exec-order": _NONE + "; cases start longest expected first (docs/history.md)",
    "--ci-generate": _NONE,
}


def assay_option(option: str) -> str | None:
    """The hint for ``option`` (as click names it: ``--exec-policy``, ``-r``) if it is
    ReFrame's, else None."""
    ours = _ASSAY.get(option.partition("=")[0])
    if ours is None:
        return None
    return f"{option} is ReFrame's; in assay: {ours} (docs/from-reframe.md)"
