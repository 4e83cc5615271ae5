"""The light path of ``assay store push|pull`` (assay.quick_transfer, taken by
assay.entry): which command lines it takes, and that everything else goes to the full
command line, unchanged."""

from __future__ import annotations

import pytest

from assay.quick_transfer import QuickTransfer, parse_quick


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["store", "push", "ssh://h/x", "build"],
            QuickTransfer("push", "ssh://h/x", "build"),
        ),
        (
            ["--debug", "store", "--store", "/s", "pull", "host", "b@2", "-q"],
            QuickTransfer("pull", "host", "b@2", "/s", quiet=True),
        ),
        (
            ["store", "--store=/s", "push", "--ssh-config=/c", "t", "--remote-store", "r", "n"],
            QuickTransfer("push", "t", "n", "/s", remote_root="r", ssh_config="/c"),
        ),
        (
            ["store", "push", "-c", "a.toml", "part", "n", "--quiet", "--config=b.toml"],
            QuickTransfer("push", "part", "n", config="b.toml", quiet=True),
        ),
    ],
)
def test_the_light_path_reads_the_transfer_options_as_the_full_command_line_does(args, expected):
    assert parse_quick(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run", "tests/"],
        ["store", "put", "build", "dir"],
        ["store", "push", "--help"],
        ["store", "push", "ssh://h/x"],  # a missing REF: click says so
        ["store", "push", "ssh://h/x", "build", "extra"],
        ["store", "push", "s3://bucket/prefix", "build"],  # object storage: boto3's path
        ["store", "push", "ssh://h/x", "build", "--no-such-option"],
        ["store", "push", "ssh://h/x", "build", "-qc", "a.toml"],  # short flags merged
        ["store", "push", "ssh://h/x", "build", "--ssh-config"],  # an option without value
        ["store", "push", "--", "ssh://h/x", "build"],
        ["store", "push", "ssh://h/x", "build", "--debug"],  # click refuses it there
        ["store", "--store", "/s", "--help"],
    ],
)
def test_anything_else_goes_to_the_full_command_line(args):
    assert parse_quick(args) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--debug", "tests"], ["--debug", "run", "tests"]),
        (["list", "tests", "--debug"], ["--debug", "list", "tests"]),
        (["--debug", "run", "tests"], ["--debug", "run", "tests"]),
        (["run", "--", "--debug"], ["run", "--", "--debug"]),  # a path named so
        (["run", "tests"], ["run", "tests"]),
    ],
)
def test_debug_after_the_command_goes_before_it(args, expected):
    # Before, `assay run --debug tests` was "No such option: --debug" (exit 2).
    from assay.entry import debug_first

    assert debug_first(args) == expected


def test_assay_run_with_debug_after_the_command_runs(tmp_path):
    import subprocess
    import sys

    (tmp_path / "test_ok.py").write_text(
        "import assay\n\nclass Ok(assay.Test):\n    command = 'true'\n"
    )
    ran = subprocess.run(
        [sys.executable, "-m", "assay", "run", "--debug", "test_ok.py", "--plain"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "1 passed" in ran.stdout
