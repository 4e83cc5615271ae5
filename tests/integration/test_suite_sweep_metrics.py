"""A sweep's own metrics (``[suite.sweep.metrics.NAME]``): a suite of reference cases with a
benchmark sweep beside them, as a codec's suite has (decode the test vectors; compress one
file at several qualities and track the size). The reference cases do not print the sweep's
figures, so the sweep's metrics must not be read from them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_assay

SUITE = """
[suite]
name = "codec"
cases = "cases/*"
command = "cat in > out"

[suite.compare]
files = ["out"]

[[suite.sweep]]
name = "compress"
quality = [1, 9]
command = "echo size: $((100 - {quality}))"

[suite.sweep.metrics.size]
regex = "size: (\\\\d+)"
unit = "B"
better = "lower"

[suite.sweep.references."*"]
size = { value = 95, lower = -0.1, upper = 0.1 }
"""


def _suite(tmp_path: Path, text: str = SUITE) -> Path:
    for name in ("a", "b"):
        (tmp_path / "cases" / name / "expected").mkdir(parents=True)
        (tmp_path / "cases" / name / "in").write_text(f"{name}\n")
        (tmp_path / "cases" / name / "expected" / "out").write_text(f"{name}\n")
    path = tmp_path / "codec.suite.toml"
    path.write_text(text)
    return path


def test_a_sweeps_metrics_are_read_only_from_its_own_cases(tmp_path):
    _suite(tmp_path)
    result = run_assay("run", "codec.suite.toml", "--plain", cwd=tmp_path)
    # quality 9 gives 91, inside 95 +-10%; quality 1 gives 99: both pass.
    assert result.code == 0, result
    assert result.case("codec[case=a]")["metrics"] == []
    sizes = {
        c["name"].split(" @")[0]: [(m["name"], m["value"]) for m in c["metrics"]]
        for c in result.report["cases"]
        if c["name"].startswith("codec-compress[")
    }
    assert sizes == {
        "codec-compress[quality=1]": [("size", 99.0)],
        "codec-compress[quality=9]": [("size", 91.0)],
    }


def test_a_sweeps_reference_fails_its_case_when_out_of_bounds(tmp_path):
    _suite(tmp_path, SUITE.replace("value = 95", "value = 80"))
    result = run_assay("run", "codec.suite.toml", "--plain", cwd=tmp_path)
    assert result.code == 1, result
    failed = {c["name"].split(" @")[0] for c in result.report["cases"] if c["status"] == "failed"}
    assert failed == {"codec-compress[quality=1]", "codec-compress[quality=9]"}


def test_a_sweep_reference_to_a_metric_it_does_not_have_is_a_load_error(tmp_path):
    _suite(
        tmp_path,
        SUITE.replace('[suite.sweep.references."*"]\nsize', '[suite.sweep.references."*"]\nsise'),
    )
    result = run_assay("list", "codec.suite.toml", cwd=tmp_path)
    assert result.code != 0
    assert "codec.suite.toml:" in result.stderr
    assert "suite.sweep[0].references.\"*\".sise: no metric 'sise'" in result.stderr
    assert "Traceback" not in result.stderr


def test_byte_counts_a_few_bytes_apart_look_different_in_every_table(tmp_path):
    text = SUITE.replace("$((100 - {quality}))", "$((46480 + {quality}))").replace(
        "value = 95", "value = 46485"
    )
    _suite(tmp_path, text)
    result = run_assay("run", "codec.suite.toml", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    assert "size=46481 B" in result.stdout and "size=46489 B" in result.stdout
    table = result.stdout[result.stdout.index("performance, all") :]
    assert "46481 B" in table and "46489 B" in table and "e+04" not in table
    history = run_assay("history", cwd=tmp_path)
    assert "46481" in history.stdout and "46489" in history.stdout, history
    assert "e+04" not in history.stdout
    html = run_assay("report", "--html", "report.html", cwd=tmp_path)
    assert html.code == 0, html
    page = (tmp_path / "report.html").read_text()
    assert "46481" in page and "46489" in page and "4.648e+04" not in page


def test_assay_compare_shows_byte_counts_in_full(tmp_path):
    path = _suite(tmp_path, SUITE.replace("$((100 - {quality}))", "$((46480 + {quality}))"))
    first = run_assay("run", "codec.suite.toml", "--plain", cwd=tmp_path)
    path.write_text(path.read_text().replace("46480 +", "46483 +"))
    second = run_assay("run", "codec.suite.toml", "--plain", cwd=tmp_path)
    assert first.report["cases"] and second.report["cases"]
    compared = run_assay("compare", cwd=tmp_path)
    assert compared.code in (0, 1), compared
    assert "46481" in compared.stdout and "46484" in compared.stdout, compared
    assert "e+04" not in compared.stdout
