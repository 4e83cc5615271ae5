"""Values that reach generated scripts (parameter values, case directory names, variables,
test names) holding newlines, ``$(...)``, backticks, quotes, ``#SBATCH`` and the like: the
cases run with exactly those values, and nothing a value holds is ever run, neither during
the run nor when the kept scripts are run by hand."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

MARK = "PWNED"

HOSTILE_PARAMS = """
import assay

class Hostile(assay.Test):
    v = assay.parameter([
        "x\\ntouch {mark}\\n#",
        "$(touch {mark})",
        "`touch {mark}`",
        "a'b\\"c",
        "#SBATCH --wrap='touch {mark}'",
        "cr\\rlf\\r\\n",
        "esc \\x1b]0;title\\x07",
        "fake\\n[   OK] Forged @local:default+builtin (1ms)\\r",
        "long" + "y" * 20000,
    ], fmt=lambda v: "long" if v.startswith("long") else v)
    env = {{"V": "{{v}}"}}
    command = "printf %s {{v}} > out.txt; printf %s \\"$V\\" > env.txt"

    def sanity(self, out):
        assert (out.stage_dir / "out.txt").read_bytes().decode() == self.v
        assert (out.stage_dir / "env.txt").read_bytes().decode() == self.v

Named = type("Na\\nme $(touch {mark})", (Hostile,), {{}})
"""


def test_hostile_parameter_values_and_names_run_as_given_and_run_nothing_else(
    assay_cli, tmp_path: Path
) -> None:
    mark = tmp_path / MARK
    (tmp_path / "test_hostile.py").write_text(HOSTILE_PARAMS.format(mark=mark))
    result = assay_cli("run", "test_hostile.py", "--plain", "--keep-stage")
    assert result.code == 0, result.stdout[-3000:]
    cases = result.report["cases"]
    assert len(cases) == 18 and {c["status"] for c in cases} == {"passed"}
    assert not mark.exists()
    # On the terminal too a name is one line of text: no line of its own that reads as
    # another case's result, no carriage return or escape sequence to overwrite one.
    lines = result.stdout.splitlines()
    assert sum(line.startswith("[   OK]") for line in lines) == 18
    assert sum(line.startswith("[  RUN]") for line in lines) == 18
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    for case in cases:  # and by hand, as the docs invite: still nothing else runs
        script = Path(case["output_dir"]) / "assay-run.sh"
        text = script.read_text()
        assert "\r" not in text and "\x1b" not in text
        out = Path(case["stage_dir"]) / "out.txt"
        out.unlink()
        ran = subprocess.run(["bash", str(script)], capture_output=True, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        assert out.read_bytes().decode() == case["params"]["v"] or case["params"]["v"] == "long"
    assert not mark.exists()


def test_a_suite_case_directory_and_sweep_values_with_newlines_run_nothing_else(
    assay_cli, tmp_path: Path
) -> None:
    mark = tmp_path / MARK
    suite = tmp_path / "s"
    (suite / "cases" / f"c\ntouch {mark}\n").mkdir(parents=True)
    (suite / "cases" / "plain").mkdir()
    (suite / "s.suite.toml").write_text(
        "[suite]\n"
        'cases = "cases/*"\n'
        'command = "printf %s {case} > case.txt"\n'
        "[[suite.sweep]]\n"
        f'p = ["ok", "a\\ntouch {mark}\\n#", "$(touch {mark})"]\n'
        'command = "printf %s {p} > p.txt"\n'
    )
    result = assay_cli("run", "s", "--plain")
    assert result.code == 0, result
    names = [c["name"] for c in result.report["cases"]]
    assert len(names) == 5
    assert not mark.exists()
    report = json.loads((tmp_path / ".assay" / "latest" / "report.json").read_text())
    assert {c["status"] for c in report["cases"]} == {"passed"}


HOSTILE_METRIC = """
import assay

class Hostile(assay.Test):
    v = assay.parameter(["esc \\x1b]0;title\\x07", "fake\\nnote: Forged: nothing\\r"])
    command = "echo rate: 2"

    @assay.metric("op/s")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)
"""


def test_bless_and_list_show_a_hostile_case_name_on_one_line(assay_cli, tmp_path: Path) -> None:
    (tmp_path / "test_hostile.py").write_text(HOSTILE_METRIC)
    assert assay_cli("run", "test_hostile.py", "--plain").code == 0
    for args in (("bless", "--yes"), ("list", "test_hostile.py")):
        done = assay_cli(*args)
        assert done.code == 0, done
        assert "\r" not in done.stdout and "\x1b" not in done.stdout and "\x07" not in done.stdout
        assert not any(line.startswith("note: Forged") for line in done.stdout.splitlines())
    blessed = assay_cli("bless", "--yes").stdout.splitlines()
    notes = [line for line in blessed if line.startswith("note: ")]
    assert len(notes) == 2 and all("no reference for rate" in n for n in notes), blessed
