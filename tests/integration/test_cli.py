"""The command line as a user meets it: examples, listing, the live display, config."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT, run_assay, run_on_terminal


def test_shipped_examples_pass(tmp_path):
    result = run_assay("run", str(ROOT / "examples"), "--plain", cwd=tmp_path, timeout=300)
    assert result.code == 0, result
    names = [c["name"] for c in result.report["cases"]]
    for expected in (
        "Hello @local:default+builtin",
        "Stream[threads=2] @local:default+builtin",
        "Sort[size=1000,order=desc] @local:default+builtin",
        "Scale[workers=4,size=400] @local:default+builtin",
        "UseGreeter[name=bob] @local:default+builtin",
        "markdown[case=emphasis] @local:default+builtin",  # golden-pairs: x.txt beside x.html
    ):
        assert expected in names
    # The variant filter dropped one combination; the zipped group made 3, not 9.
    assert "Sort[size=10,order=desc] @local:default+builtin" not in names
    assert sum(n.startswith("Scale[") for n in names) == 3
    stream = result.case("Stream[threads=1]")
    assert stream["metrics"][0]["name"] == "triad" and stream["metrics"][0]["value"] > 0


def test_list_shows_cases_without_running_them(assay_cli, write):
    write(
        "test_many.py",
        """
        import assay

        class Many(assay.Test):
            a = assay.parameter(range(50))
            b = assay.parameter(["x", "y"])
            command = "touch {a}{b}.ran"

        class Needs(assay.Test):
            depends_on = ["Many"]
            tags = {"slow"}
            command = "true"
        """,
    )
    result = assay_cli("list", "test_many.py", "-P", "a=7", "-P", "b=y", "-n", "Many")
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].endswith("  Many[a=7,b=y] @local:default+builtin")
    assert lines[-1] == "1 case(s) of 1 test(s) on system local"
    assert not list(result.cwd.glob("*.ran")) and not (result.cwd / ".assay").exists()
    as_json = json.loads(assay_cli("list", "test_many.py", "-t", "slow", "--json").stdout)
    needs = [c for c in as_json["cases"] if c["test"] == "Needs"]
    pulled = [c for c in as_json["cases"] if c["test"] == "Many"]
    assert len(needs) == 1 and len(pulled) == 100
    assert all(not c["selected"] for c in pulled)
    assert len(needs[0]["dependencies"]) == 100


def test_list_exits_1_when_a_file_does_not_load(assay_cli, write):
    write("test_bad.py", "import assay\n\nclass X(assay.Test):\n    command = 3\n")
    result = assay_cli("list", "test_bad.py")
    assert result.code == 1
    assert "test_bad.py:3: test X is malformed:" in result.stderr
    assert "command must be a string, got 3" in result.stderr


def test_live_display_on_a_terminal(tmp_path):
    (tmp_path / "test_live.py").write_text(
        "import assay\n\nclass Live(assay.Test):\n"
        "    i = assay.parameter(range(4))\n    command = 'sleep 0.5'\n\n"
        "class Bad(assay.Test):\n    command = 'exit 2'\n"
    )
    code, screen = run_on_terminal("run", "test_live.py", cwd=tmp_path)
    assert code == 1
    assert "\x1b[" in screen  # styled output: a terminal display, not plain lines
    assert "/5 " in screen and "elapsed" in screen  # the progress line: done/total
    assert "Live[i=0] @local:default+builtin" in screen  # a running case was shown
    # ... with the stage it is at (the 0.5 s of its command: the run stage)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert re.search(r"Live\[i=\d\] @local:default\+builtin +run\b", text), text[-3000:]
    assert "[ FAIL] Bad @local:default+builtin" in screen
    assert "4 passed, 1 failed, 0 skipped" in screen
    assert "[  RUN]" not in screen  # no line-per-event output on a terminal


def test_config_command_shows_the_selected_system(assay_cli, write):
    write(
        "assay.toml",
        """
        [systems.laptop]
        hostnames = ["no-such-host-*"]
        [systems.laptop.partitions.cpu]

        [systems.any]
        hostnames = ["*"]
        [systems.any.partitions.main]
        max_jobs = 3
        environments = ["gnu"]

        [environments.gnu]
        cc = "gcc"
        """,
    )
    result = assay_cli("config")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["selected_system"] == "any"
    assert data["systems"]["any"]["partitions"]["main"]["max_jobs"] == 3
    assert data["environments"]["gnu"]["cc"] == "gcc"
    forced = json.loads(assay_cli("config", "--system", "laptop").stdout)
    assert forced["selected_system"] == "laptop"


def test_version_and_help(assay_cli):
    version = assay_cli("--version")
    assert version.code == 0 and "assay, version" in version.stdout
    helped = assay_cli("run", "--help")
    assert helped.code == 0 and "--max-retries" in helped.stdout


def test_a_prefix_that_cannot_hold_sessions_is_a_clear_error(assay_cli, write, tmp_path):
    """A file where the prefix goes, or a place with no such parent, was an internal error
    with a traceback (mkdir's FileNotFoundError / NotADirectoryError)."""
    write(
        "test_a.py",
        "import assay\n\n\nclass A(assay.Test):\n    command = 'echo hi'\n",
    )
    (tmp_path / "taken").write_text("a file")
    for prefix, why in (("taken", "Not a directory"), ("/proc/no-such", "No such file")):
        result = assay_cli("run", "test_a.py", "--plain", "--prefix", prefix)
        assert result.code == 2, result
        assert f"--prefix {prefix}: cannot make the session directory" in result.stderr
        assert why in result.stderr and "a directory you can write to" in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert (tmp_path / "taken").read_text() == "a file"


def test_bless_and_fetch_before_any_run_say_there_is_no_session(assay_cli):
    """Before, both said "cannot read .assay/latest: No such file or directory" with the
    hint meant for a session someone else owns ("for a session of your own")."""
    for command in (["bless"], ["fetch", "abc"]):
        result = assay_cli(*command)
        assert result.code == 2, result
        assert f"{command[0]}: there is no session under .assay yet" in result.stderr, result
        assert "run `assay run` first" in result.stderr and "of your own" not in result.stderr
