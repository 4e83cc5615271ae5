"""A suite of text outputs whose layout is the point (a formatter's, Markdown's ``<pre>``
blocks), run through ``assay run``: whitespace that changed fails the case, saying so; a
line inserted into the output is one extra line, not every line after it; an aligned column
of numbers within tolerance passes; ``whitespace = "ignore"`` is numdiff's way."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_assay

SUITE = """\
[suite]
name = "md"
cases = "cases/*"
command = "sh {root}/render.sh"

[suite.compare]
files = ["out.html"]
rtol = 1e-3
{extra}
"""
# A stand-in for a Markdown renderer under test, wrong on purpose: it narrows the code
# blocks' indentation to 2 spaces and, for a case with the file `warn`, writes a warning
# line into its output after line 3.
RENDER = """\
sed -e 's/^    /  /' in.md | awk -v w="$([ -f warn ] && echo 1)" \\
  'NR == 4 && w {{ print "<!-- warning: unclosed tag -->" }} {{ print }}' > out.html
"""
PRE = "<pre><code>def f():\n    return 1\n</code></pre>\n"
PAGE = "".join(f"<p>paragraph {i}</p>\n" for i in range(1, 41))
TABLE = "<pre>\nstep   energy\n   1    9.995\n   2   10.004\n</pre>\n"
TABLE_EXPECTED = "<pre>\nstep   energy\n   1   10.001\n   2    9.998\n</pre>\n"


def _suite(root: Path, extra: str = "") -> None:
    (root / "render.sh").write_text(RENDER.format())
    (root / "md.suite.toml").write_text(SUITE.format(root=root, extra=extra))
    for name, source, expected, warn in (
        ("pre", PRE, PRE, False),
        ("page", PAGE, PAGE, True),
        ("table", TABLE, TABLE_EXPECTED, False),
    ):
        case = root / "cases" / name
        (case / "expected").mkdir(parents=True)
        (case / "in.md").write_text(source)
        (case / "expected" / "out.html").write_text(expected)
        if warn:
            (case / "warn").write_text("")


def _reasons(root: Path) -> dict[str, str]:
    (report,) = root.glob(".assay/runs/*/report.json")
    cases = json.loads(report.read_text())["cases"]
    return {c["name"].split(" @")[0]: (c.get("failure") or {}).get("reason", "ok") for c in cases}


def test_whitespace_and_inserted_lines_are_reported_as_a_diff_would(tmp_path: Path) -> None:
    _suite(tmp_path)
    result = run_assay("run", "md.suite.toml", "--plain", cwd=tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    reasons = _reasons(tmp_path)
    assert reasons == {
        "md[case=page]": "out.html: output line 4 is extra: '<!-- warning: unclosed tag -->'",
        "md[case=pre]": (
            "out.html line 2, column 3: whitespace differs: 4 spaces expected, 2 spaces found"
        ),
        "md[case=table]": "ok",
    }
    assert "1 passed, 2 failed" in result.stdout


def test_whitespace_ignore_compares_tokens_only(tmp_path: Path) -> None:
    _suite(tmp_path, 'whitespace = "ignore"')
    result = run_assay("run", "md.suite.toml", "--plain", cwd=tmp_path)
    reasons = _reasons(tmp_path)
    assert reasons["md[case=pre]"] == "ok", result.stdout
    assert reasons["md[case=page]"] == (
        "out.html: output line 4 is extra: '<!-- warning: unclosed tag -->'"
    )


def test_a_python_test_chooses_with_out_compare(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "out.txt").write_text("def f():\n    return 1.0\n")
    (tmp_path / "test_layout.py").write_text(
        "import assay\n\n\n"
        "class Layout(assay.Test):\n"
        '    how = assay.parameter(["significant", "ignore"])\n'
        "    command = \"printf 'def f():\\\\n  return 1.0\\\\n' > out.txt\"\n\n"
        "    def sanity(self, out):\n"
        '        out.compare("ref", files=["out.txt"], whitespace=self.how)\n'
    )
    run_assay("run", "test_layout.py", "--plain", cwd=tmp_path)
    assert _reasons(tmp_path) == {
        "Layout[how=significant]": (
            "out.txt line 2, column 3: whitespace differs: 4 spaces expected, 2 spaces found"
        ),
        "Layout[how=ignore]": "ok",
    }
