"""The build and run scripts of a case: plain bash, every value quoted, runnable by hand.

Every value is quoted onto its own line (a newline in a value is written ``$'\\x0a'``),
the case's name goes into a comment with its control characters shown as escapes, and
the scheduler's header comes first: whatever a value holds, the script has the lines it
was written with, and its directives come before its first command (checked as it is
written, :func:`assay.schedulers.jobscript.compose`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from assay import shell
from assay.config import Environment, Partition
from assay.modules import module_lines
from assay.schedulers.base import STATUS_SUFFIX
from assay.schedulers.jobscript import compose

BUILD_SCRIPT = "assay-build.sh"
BUILD_OUT = "assay-build.out"
BUILD_ERR = "assay-build.err"
RUN_SCRIPT = "assay-run.sh"
RUN_OUT = "assay-run.out"
RUN_ERR = "assay-run.err"
PYTHON_OUT = "assay-python.out"  # what the test's Python code printed (hooks, sanity...)
OWN_FILES = (BUILD_SCRIPT, BUILD_OUT, BUILD_ERR, RUN_SCRIPT, RUN_OUT, RUN_ERR, PYTHON_OUT)
COMPARE_SPEC = "assay-compare.json"  # a comparison to make in the job, and its verdict
COMPARE_VERDICT = "assay-verdict.json"
ASSAY_FILES = (
    *OWN_FILES,
    *(f"{name}{STATUS_SUFFIX}" for name in (BUILD_OUT, RUN_OUT)),
    COMPARE_SPEC,
    COMPARE_VERDICT,
)
"""Every file assay itself may put in a stage dir (none of them is an output of the test)."""

# Root ignores file modes, so a test run as root could write through a read-only hard link
# into the artifact store. Run as root, the script of a case with such links starts itself
# again without the two capabilities that override modes: writes to read-only inputs then
# fail as they do for anyone else. ASSAY_ROOT_CAPS=keep opts out (for a test that needs
# them). Cases without links skip it: it costs a process start.
ROOT_GUARD = [
    'if [ "$EUID" = 0 ] && [ -z "${ASSAY_ROOT_CAPS:-}" ] && command -v setpriv >/dev/null; then',
    "  export ASSAY_ROOT_CAPS=dropped",
    '  exec setpriv --bounding-set=-dac_override,-fowner -- /bin/bash "$0" "$@"',
    "fi",
]


def _environment_lines(
    stage_dir: Path,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    prerun: Iterable[str],
) -> list[str]:
    lines = [f"cd {shell.quote(stage_dir)} || exit 97"]
    # Modules first: the environment's and the partition's variables win over theirs.
    lines += module_lines(env_config)
    variables = {**env_config.exports(), **partition.variables, **test_env}
    lines += [shell.export(name, value) for name, value in variables.items()]
    lines += list(env_config.prerun) + list(partition.prerun) + list(prerun)
    return lines


def build_script(
    title: str,
    stage_dir: Path,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    commands: Iterable[str],
    header: Iterable[str] = (),
    footer: Iterable[str] = (),
    protect_inputs: bool = False,
) -> str:
    """A script that runs the build commands in order and stops at the first failure;
    ``protect_inputs`` when the stage dir holds read-only links into the store."""
    lines = ["#!/bin/bash", *header, f"# assay build: {shell.comment(title)}"]
    lines += ROOT_GUARD if protect_inputs else []
    body = _environment_lines(stage_dir, env_config, partition, test_env, ()) + list(commands)
    after = list(footer)
    if not after:
        return compose([*lines, "set -e", *body])
    lines += ["(", "set -e", *body, ")", "assay_status=$?", *after, "exit $assay_status"]
    return compose(lines)


def run_script(
    title: str,
    header: Iterable[str],
    stage_dir: Path,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    prerun: Iterable[str],
    command: str,
    postrun: Iterable[str],
    footer: Iterable[str] = (),
    protect_inputs: bool = False,
) -> str:
    """A script that runs the (launched) command; its exit code is the command's;
    ``protect_inputs`` when the stage dir holds read-only links into the store."""
    lines = ["#!/bin/bash", *header, f"# assay run: {shell.comment(title)}"]
    lines += ROOT_GUARD if protect_inputs else []
    lines += _environment_lines(stage_dir, env_config, partition, test_env, prerun)
    after = [*postrun, *footer]
    if after:
        lines += [command, "assay_status=$?", *after, "exit $assay_status"]
    else:
        lines.append(command)
    return compose(lines)
