"""The last line of a local run script: a simple command that runs a program replaces the
shell (one process for the case); everything else runs exactly as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from assay.config import BUILTIN_ENVIRONMENT, Partition
from assay.run import scripts


def _script(stage: Path, command: str, prerun: list[str] | None = None) -> Path:
    stage.mkdir(parents=True, exist_ok=True)
    text = scripts.run_script(
        "T", [], stage, BUILTIN_ENVIRONMENT, Partition(), {}, prerun or [], command, []
    )
    path = stage / scripts.RUN_SCRIPT
    path.write_text(text)
    return path


def _run(script: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["/bin/bash", str(script)],
        cwd=script.parent,
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_a_program_replaces_the_shell(tmp_path):
    out = _run(_script(tmp_path, "cat /proc/$$/cmdline")).stdout
    assert out.split(b"\0")[0] == b"cat", out


@pytest.mark.parametrize(
    "command",
    [
        "echo one; cat /proc/$$/cmdline",  # a list
        "cat /proc/$$/cmdline | cat",  # a pipe
        "cat /proc/$$/cmdline > out.txt; cat out.txt",
        "X=1 cat /proc/$$/cmdline",  # an assignment first
        "(cat /proc/$$/cmdline)",
        "cat /proc/$$/cmdline # a comment",
        "cat /proc/$$/cmdline\necho more",
    ],
)
def test_anything_but_one_simple_command_runs_as_written(tmp_path, command):
    script = _script(tmp_path, command)
    done = _run(script)
    assert done.returncode == 0, done
    # The shell stayed: $$ is the bash running the script, not a program that replaced it.
    assert b"/bin/bash\0" + str(script).encode() in done.stdout, done.stdout


@pytest.mark.parametrize("command", ["echo 'a;b' \"c|d\"", "printf '%s\\n' x", "cd /", "true"])
def test_shell_builtins_and_quoted_punctuation_keep_their_meaning(tmp_path, command):
    done = _run(_script(tmp_path, command))
    reference = subprocess.run(["/bin/bash", "-c", command], capture_output=True, check=False)
    assert (done.returncode, done.stdout) == (reference.returncode, reference.stdout)


def test_a_function_exported_under_the_programs_name_still_runs(tmp_path):
    script = _script(tmp_path, "mytool --flag")
    done = _run(script, **{"BASH_FUNC_mytool%%": "() { echo function $1; }"})
    assert done.stdout == b"function --flag\n", done


def test_after_prerun_lines_the_command_does_not_replace_the_shell(tmp_path):
    """A prerun line may set an EXIT trap (or define a function): it must still run."""
    script = _script(tmp_path, "cat /proc/$$/cmdline", prerun=["trap 'echo trapped' EXIT"])
    done = _run(script)
    assert done.stdout.endswith(b"trapped\n"), done
    assert done.stdout.split(b"\0")[0].endswith(b"bash"), done


def test_a_missing_program_fails_as_it_would_without_exec(tmp_path):
    done = _run(_script(tmp_path, "no-such-program-here x"))
    assert done.returncode == 127
    assert b"no-such-program-here" in done.stderr


def test_the_programs_exit_status_is_the_scripts(tmp_path):
    assert _run(_script(tmp_path, "sh -c 'exit 7'")).returncode == 7


def test_export_lines_are_worked_out_once_and_stay_those_of_shell_export():
    from assay import shell

    values = ["plain", "with space", "$HOME/x", "$$", 'q"`\\', "ctl\x01\n", "", "ü"]
    for _ in range(2):  # the second round comes from the cache
        assert [scripts._export("V", v) for v in values] == [shell.export("V", v) for v in values]
    assert scripts._export("N", 3) == shell.export("N", 3)  # not a str: not cached
    for _ in range(2):  # a refused name is refused every time
        with pytest.raises(ValueError, match="not a valid environment variable name"):
            scripts._export("1BAD", "x")


def test_the_failed_build_command_is_read_from_the_last_mark_of_stderr() -> None:
    mark = scripts.FAILED_MARK
    tail = f"{mark} (exit code 1): make one\nnoise\n{mark} (exit code 2): make \x1b[2Jtwo\n"
    assert scripts.failed_build_command(tail, "") == " from `make  [2Jtwo`"
    assert scripts.failed_build_command(f"{mark} (exit code 1): {'x' * 300}", "") == (
        f" from `{'x' * 197}...`"
    )
    assert scripts.failed_build_command("error: no such header\n", "") is None


def test_a_syntax_error_names_the_line_of_the_build_script() -> None:
    script = "#!/bin/bash\nset -e\ncc -DX=) a.c\n"
    said = "/stage/assay-build.sh: line 3: syntax error near unexpected token `)'\n"
    assert scripts.failed_build_command(said, script) == (
        ": a shell syntax error in `cc -DX=) a.c` (check its quoting)"
    )
    beyond = said.replace("line 3", "line 9")
    assert scripts.failed_build_command(beyond, script) is None
