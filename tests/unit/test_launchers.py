"""Launchers: the parallel starter a partition puts in front of a test's command."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from assay.config import parse_config
from assay.errors import ConfigError
from assay.launchers import LAUNCHERS, OMPI_SESSION_DIR, Mpiexec, Mpirun, Srun, launcher
from assay.schedulers.base import JobResources

OMPI = OMPI_SESSION_DIR


def test_none_runs_the_command_as_it_is() -> None:
    assert launcher("none").command("./app 'a b'", JobResources(tasks=4)) == "./app 'a b'"


def test_srun_states_tasks_and_cpus_per_task() -> None:
    resources = JobResources(nodes=2, tasks=8, cpus_per_task=3)
    assert Srun().command("./app", resources) == "srun --ntasks=8 --cpus-per-task=3 ./app"


def test_mpirun_is_open_mpis_and_maps_tasks_per_node() -> None:
    assert Mpirun().command("./app", JobResources(tasks=4)) == f"{OMPI} mpirun -np 4 ./app"
    spread = JobResources(nodes=2, tasks=4, tasks_per_node=2)
    assert Mpirun().command("./app", spread) == f"{OMPI} mpirun -np 4 --map-by ppr:2:node ./app"


def _session_dir(env: dict[str, str], before: str = "") -> str:
    """What OMPI_SESSION_DIR gives mpirun when bash runs it with ``env`` (after ``before``)."""
    line = f"{before}{OMPI_SESSION_DIR} printenv OMPI_MCA_orte_top_session_dir"
    return subprocess.run(
        ["bash", "-c", line],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _named_for_the_job(path: str, base: Path) -> None:
    """``path`` is a name under ``base`` that no one could guess, not made yet (Open MPI 4
    makes it, mode 0700; Open MPI 5 ignores it and would leave a made one behind)."""
    assert re.fullmatch(re.escape(f"{base}/assay-ompi.") + r"[A-Za-z0-9]{10}", path), path
    assert not os.path.lexists(path)


def test_each_mpirun_job_gets_an_open_mpi_session_dir_of_its_own(tmp_path: Path) -> None:
    # Open MPI 4's shared session dir races between runs ending and starting at once
    # (orte_session_dir failed); a dir per mpirun has no other user.
    scratch, local = tmp_path / "scratch", tmp_path / "local"
    scratch.mkdir()
    local.mkdir()
    _named_for_the_job(_session_dir({"TMPDIR": str(scratch)}), scratch)
    base = {"TMPDIR": str(scratch), "OMPI_MCA_orte_tmpdir_base": str(local)}
    _named_for_the_job(_session_dir(base), local)
    assert _session_dir(base) != _session_dir(base)
    # one the user names is theirs (not made)
    assert _session_dir({"OMPI_MCA_orte_top_session_dir": "/mine"}) == "/mine"


def test_the_session_dir_is_not_one_another_user_could_make_first(tmp_path: Path) -> None:
    """It was $TMPDIR/assay-ompi.$HOSTNAME.$$: another user of a shared /tmp who made that
    directory first (the job shell's pid is no secret) had Open MPI use theirs."""
    planted = 'mkdir -m 777 "$TMPDIR/assay-ompi.$HOSTNAME.$$"; '
    got = _session_dir({"TMPDIR": str(tmp_path)}, before=planted)
    _named_for_the_job(got, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1  # the planted one, not used


def test_mpiexec_uses_the_generic_syntax_without_open_mpis_map_by() -> None:
    assert Mpiexec().command("./app", JobResources(tasks=4)) == "mpiexec -n 4 ./app"
    spread = JobResources(nodes=2, tasks=4, tasks_per_node=2)
    line = Mpiexec().command("./app", spread)
    assert line == "mpiexec -n 4 -ppn 2 ./app"
    assert "--map-by" not in line


def test_options_are_words_quoted_before_the_command() -> None:
    line = Mpirun(["--bind-to", "core", "-x", "A=b c"]).command("./app", JobResources(tasks=2))
    assert line == f"{OMPI} mpirun -np 2 --bind-to core -x 'A=b c' ./app"
    assert launcher("srun", ["--mpi=pmix"]).command("./app", JobResources()) == (
        "srun --ntasks=1 --mpi=pmix ./app"
    )


def test_an_unknown_launcher_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown launcher 'aprun'"):
        launcher("aprun")


def test_every_launcher_the_config_accepts_has_an_object() -> None:
    for name in LAUNCHERS:
        text = f'''
[systems.s.partitions.p]
launcher = "{name}"
'''
        part = parse_config(text, "t.toml").systems["s"].partitions["p"]
        assert launcher(part.launcher).name == name
    with pytest.raises(ConfigError, match="launcher"):
        parse_config('[systems.s.partitions.p]\nlauncher = "aprun"\n', "t.toml")


def test_launcher_options_come_from_the_partition_and_are_checked() -> None:
    text = """
[systems.s.partitions.p]
launcher = "mpirun"
launcher_options = ["--bind-to", "core"]
"""
    part = parse_config(text, "t.toml").systems["s"].partitions["p"]
    assert launcher(part.launcher, part.launcher_options).command("x", JobResources()) == (
        f"{OMPI} mpirun -np 1 --bind-to core x"
    )
    with pytest.raises(ConfigError, match=r"launcher_options\[0\].*control character"):
        parse_config(text.replace('"core"]', '"core"]').replace('"--bind-to"', '"a\\nb"'), "t")
    with pytest.raises(ConfigError, match="launcher_options: options for no launcher"):
        parse_config(text.replace('"mpirun"', '"none"'), "t.toml")


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("OMP_NUM_THREADS=2 ./app", "variable assignment 'OMP_NUM_THREADS=2'"),
        ("PATH+=:/opt ./app", "variable assignment 'PATH+=:/opt'"),
        ("cd sub && ./app", "shell word 'cd'"),
        ("export X=1; ./app", "shell word 'export'"),
        ("(./a; ./b)", "shell word '('"),
        ("  source env.sh; ./app", "shell word 'source'"),
        # a program of the test's own after the first: not launched (before: no problem)
        ("./app; ./post", "program './post' comes after `;`"),
        ("./a && bin/b x", "program 'bin/b' comes after `&&`"),
        ("./a &> log\n./b", "program './b' comes after a newline"),
        # a tool after the program runs once in the job script, as documented
        ("./app > out.txt; grep -q done out.txt", None),
        ('./app 2>&1 | tee log; echo "x; ./b"', None),
        ("time ./app", None),  # /usr/bin/time is a program: `srun time ./app` times each task
        ("./app X=1 > out.txt", None),
        ("", None),
    ],
)
def test_a_launcher_names_a_first_word_it_cannot_start(command: str, problem: str | None) -> None:
    for name in ("srun", "mpirun", "mpiexec"):
        found = launcher(name).problem(command)
        if problem is None:
            assert found is None, (name, found)
        else:
            assert found is not None and problem in found and f"the {name} launcher" in found
    assert launcher("none").problem(command) is None  # the shell runs it as it is
