"""A local run script that only sets plain variables and runs one program starts that
program directly (one execve, no bash); anything bash would read differently keeps bash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from assay.config import BUILTIN_ENVIRONMENT, Partition
from assay.run import scripts
from assay.schedulers.local_exec import direct_start


def _direct(command: str, test_env: dict[str, str] | None = None, **kw: object):
    return scripts.direct_command(
        command, BUILTIN_ENVIRONMENT, Partition(), test_env or {}, [], [], []
    )


@pytest.mark.parametrize(
    "command",
    ["cp in.txt out.txt", "./solver --input=a.json -n 4", "/usr/bin/env", "tool a,b x:y 1+2 @f"],
)
def test_a_simple_command_of_plain_words_runs_without_bash(command):
    found = _direct(command)
    assert found is not None
    assert found[0] == command.split(" ")
    assert found[1] == {"CC": "cc", "CXX": "c++", "FC": "gfortran"}


@pytest.mark.parametrize(
    "command",
    [
        "echo hi",  # a builtin
        "cp *.txt out",  # a glob
        "cp 'a b' c",  # quotes
        "cp $HOME/x y",  # an expansion
        "cp ~/x y",  # a tilde
        "cp {a,b} y",  # braces
        "X=1 tool",  # an assignment
        "tool  two-spaces",
        "tool\targ",
        "tool; other",
        "tool | other",
        "tool > out",
        "tool &",
        "time tool",
        "tool\nother",
        "",
    ],
)
def test_anything_bash_would_read_differently_keeps_bash(command):
    assert _direct(command) is None


def test_variables_bash_would_expand_or_lines_before_keep_bash():
    assert _direct("tool", {"X": "$HOME/x"}) is None
    assert _direct("tool", {"X": "plain"}) is not None
    with_prerun = scripts.direct_command(
        "tool", BUILTIN_ENVIRONMENT, Partition(), {}, ["trap 'echo x' EXIT"], [], []
    )
    assert with_prerun is None
    with_postrun = scripts.direct_command(
        "tool", BUILTIN_ENVIRONMENT, Partition(), {}, [], ["echo after"], []
    )
    assert with_postrun is None
    partition = Partition(prerun=["ulimit -s unlimited"])
    assert scripts.direct_command("tool", BUILTIN_ENVIRONMENT, partition, {}, [], [], []) is None


def _program(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_the_program_is_found_as_bash_finds_it_and_the_environment_is_bashs(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    tool = _program(work, "tool", "#!/bin/sh\necho hi\n")
    started = direct_start((["./tool", "x"], {"A": "1"}), work, drop_caps=False)
    assert started is not None
    argv, env, _ = started
    assert argv == ["./tool", "x"] and tool.exists()  # argv[0] as written, as bash passes it
    assert env["A"] == "1" and env["PWD"] == str(work) and env["OLDPWD"] == str(work)
    assert "_" not in env
    # Run as bash would have run it: the same variables the program sees.
    found = _direct("env", {"A": "1"})
    assert found is not None
    started = direct_start(found, work, drop_caps=False)
    assert started is not None
    argv, env, _ = started
    direct = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True).stdout
    script = work / "s.sh"
    script.write_text(
        scripts.run_script(
            "T", [], work, BUILTIN_ENVIRONMENT, Partition(), {"A": "1"}, [], "env", []
        )
    )
    by_bash = subprocess.run(
        ["/bin/bash", str(script)], cwd=work, env=dict(os.environ), capture_output=True, text=True
    ).stdout
    assert sorted(direct.splitlines()) == sorted(by_bash.splitlines())


def test_dropping_capabilities_wraps_the_program_in_setpriv(tmp_path):
    started = direct_start((["cp", "a", "b"], {}), tmp_path, drop_caps=True)
    assert started is not None
    argv, env, _ = started
    assert argv[0].endswith("setpriv") and argv[-3:] == ["cp", "a", "b"]
    assert env["ASSAY_ROOT_CAPS"] == "dropped"


def test_what_only_bash_can_do_keeps_bash(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    assert direct_start((["no-such-program-here"], {}), work, drop_caps=False) is None
    _program(work, "noshebang", "echo run by a shell\n")  # bash runs it as a script
    assert direct_start((["./noshebang"], {}), work, drop_caps=False) is None
    (work / "notexec").write_text("#!/bin/sh\n")
    assert direct_start((["./notexec"], {}), work, drop_caps=False) is None
    assert direct_start((["tool"], {"PATH": f".:{os.environ['PATH']}"}), work, False) is None
    monkeypatch.setenv("BASH_FUNC_cp%%", "() { echo function; }")
    assert direct_start((["cp", "a", "b"], {}), work, drop_caps=False) is None
    monkeypatch.delenv("BASH_FUNC_cp%%")
    monkeypatch.delenv("PATH")
    assert direct_start((["cp", "a", "b"], {}), work, drop_caps=False) is None


def test_only_local_direct_jobs_run_here_so_only_they_copy_small_inputs():
    from assay.config import PartitionRef
    from assay.schedulers.direct import DirectScheduler
    from assay.schedulers.slurm import SlurmScheduler
    from assay.transports.local import LocalTransport

    class RemoteTransportStandIn(LocalTransport):  # says "remote"; nothing is started
        remote = True

    assert DirectScheduler(LocalTransport()).runs_here
    assert not DirectScheduler(RemoteTransportStandIn()).runs_here
    slurm = SlurmScheduler(PartitionRef("ci", "p", Partition(scheduler="slurm")), LocalTransport())
    assert not slurm.runs_here  # on a local transport too: the jobs run on compute nodes


def test_each_start_searches_path_again_as_each_bash_would(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    variables = {"PATH": f"{first}:{second}"}
    _program(second, "tool", "#!/bin/sh\n")
    assert direct_start((["tool"], variables), tmp_path, drop_caps=False) is not None
    (second / "tool").unlink()
    assert direct_start((["tool"], variables), tmp_path, drop_caps=False) is None
    _program(first, "tool", "echo no header: bash runs it as a script\n")
    assert direct_start((["tool"], variables), tmp_path, drop_caps=False) is None


def test_a_program_rewritten_in_place_is_looked_at_again(tmp_path):
    # Whether the kernel runs a program itself is kept per file as it is: rewritten since
    # (now without a header: bash runs it as a script), it is read again.
    tool = _program(tmp_path, "tool", "#!/bin/sh\necho hi\n")
    assert direct_start((["./tool"], {}), tmp_path, drop_caps=False) is not None
    tool.write_text("echo no header now\n")
    assert direct_start((["./tool"], {}), tmp_path, drop_caps=False) is None
    tool.write_text("#!/bin/sh\necho a header again\n")
    assert direct_start((["./tool"], {}), tmp_path, drop_caps=False) is not None
    # Replaced by another file (a new inode) of the same size, without a header.
    replacement = _program(tmp_path, "other", "::/bin/sh\necho a header again\n")
    os.replace(replacement, tool)
    assert direct_start((["./tool"], {}), tmp_path, drop_caps=False) is None


def test_the_path_search_takes_entries_in_order_with_or_without_a_trailing_slash(tmp_path):
    # (Guards the search's string joins: passes on the os.path.join code before too.)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _program(second, "tool", "#!/bin/sh\n")
    for entry in (f"{second}", f"{second}/", f"{second}//"):
        path = f"{first}/:{entry}"
        started = direct_start((["tool"], {"PATH": path}), tmp_path, drop_caps=False)
        assert started is not None, path
        assert started.executable == os.path.join(entry, "tool")
    _program(first, "tool", "#!/bin/sh\n")  # an earlier entry's program wins
    started = direct_start((["tool"], {"PATH": f"{first}/:{second}/"}), tmp_path, drop_caps=False)
    assert started is not None and started.executable == f"{first}/tool"
    # A relative entry before it: bash decides (relative to the job's directory).
    assert direct_start((["tool"], {"PATH": f"rel:{first}"}), tmp_path, drop_caps=False) is None
