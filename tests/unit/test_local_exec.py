"""How a job process starts on this machine: the argv and environment of the wrapper that
drops the capabilities overriding file modes."""

from __future__ import annotations

import os
import shutil
from pathlib import PurePath

import pytest

from assay.schedulers.local_exec import CAPS_VARIABLE, ROOT_GUARD, job_argv, job_env, root_lines


def test_a_job_without_store_links_starts_as_bash_by_its_absolute_path():
    assert job_argv(PurePath("/s/assay-run.sh"), False) == ["/bin/bash", "/s/assay-run.sh"]
    assert job_env(False) is None


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_the_wrapper_starts_by_its_absolute_path_so_no_path_search_runs_per_job():
    argv = job_argv(PurePath("/s/assay-run.sh"), True)
    assert os.path.isabs(argv[0]) and os.path.samefile(argv[0], shutil.which("setpriv") or "")
    assert argv[1:] == [
        "--bounding-set=-dac_override,-fowner",
        "--inh-caps=-dac_override,-fowner",
        "--",
        "/bin/bash",
        "/s/assay-run.sh",
    ]
    env = job_env(True)
    assert env is not None and env[CAPS_VARIABLE] == "dropped"


def test_a_script_with_store_links_carries_the_guard_unless_the_run_keeps_the_capabilities():
    assert root_lines(False, {}) == []
    assert root_lines(False, {CAPS_VARIABLE: "keep"}) == []
    assert root_lines(True, {}) == list(ROOT_GUARD)
    # "dropped" from an outer run says nothing about another host: the guard stays.
    assert root_lines(True, {CAPS_VARIABLE: "dropped"}) == list(ROOT_GUARD)
    (line,) = root_lines(True, {CAPS_VARIABLE: "keep"})
    assert line.startswith(f"export {CAPS_VARIABLE}=keep ")
