"""The HTML report's plots: valid SVG for every shape of data, text from tests kept as text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from assay.results import plots
from assay.results.changes import ChangePoint, Point

NASTY = "<script>x</script> $\\frac{a}{b}$ & ]]>"


def _svg(text: str) -> ET.Element:
    assert text.startswith("<svg")
    return ET.fromstring(text)


def _texts(root: ET.Element) -> str:
    return " ".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))


@pytest.mark.parametrize("history", [0, 1, 30])
@pytest.mark.parametrize(
    "band", [plots.Band(None, None, None), plots.Band(10, 8, None), plots.Band(10, None, 12)]
)
def test_metric_history_draws_any_history_and_band(history: int, band: plots.Band) -> None:
    points = [Point(f"s{i}", None, None, 10.0 + i % 3) for i in range(history)]
    svg = plots.metric_history(points, [9.0, 9.5], "GB/s", band, [], "t")
    root = _svg(svg)
    assert "GB/s" in _texts(root)


def test_text_from_tests_is_escaped_and_never_mathtext() -> None:
    points = [Point(f"s{i}", None, None, float(i)) for i in range(10)]
    change = ChangePoint(5, "s5", None, 2.0, 7.0, 1e-6, "s0")
    svg = plots.metric_history(points, [9.0], NASTY, plots.Band(None, None, None), [change], "a")
    assert "<script>" not in svg
    assert NASTY in _texts(_svg(svg))  # as the text it is, $...$ not typeset
    cases = [{"name": NASTY, "timings": {"run": 1.0, "build": 0.5}, "repeat": 2}]
    durations = plots.durations(cases, "b")
    assert "<script>" not in durations
    assert "#2" in _texts(_svg(durations))


def test_scaling_plot_and_unique_ids_per_figure() -> None:
    table = {
        "parameter": NASTY,
        "rows": [
            {"size": 1, "speedup": 1.0, "efficiency": 1.0},
            {"size": 2, "speedup": 1.8, "efficiency": 0.9},
            {"size": 4, "speedup": None, "efficiency": None},
        ],
    }
    one, two = plots.scaling(table, "s1"), plots.scaling(table, "s2")
    ids_one = {e.get("id") for e in _svg(one).iter() if e.get("id")}
    ids_two = {e.get("id") for e in _svg(two).iter() if e.get("id")}
    assert ids_one and not ids_one & ids_two  # many plots can share one page


CONTROLS = "a\x07b\x00c\x1b]52;\udcff\ufffe\uffffd"


def test_control_characters_and_lone_surrogates_in_text_from_tests_draw_a_valid_svg() -> None:
    # A case named with a BEL made `--html` an internal error: matplotlib writes it raw into
    # the SVG, which is then not XML (and a lone surrogate cannot even be measured).
    points = [Point(f"s{i}", None, None, float(i)) for i in range(5)]
    band = plots.Band(None, None, None)
    history = _texts(_svg(plots.metric_history(points, [1.0], CONTROLS, band, [], "a")))
    assert "a\\x07b\\x00c\\x1b]52;\\xff" in history
    table = {"parameter": CONTROLS, "rows": [{"size": 1, "speedup": 1.0, "efficiency": 1.0}]}
    assert "a\\x07b" in _texts(_svg(plots.scaling(table, "s")))
    cases = [{"name": CONTROLS, "timings": {"run": 1.0}}]
    assert "a\\x07b" in _texts(_svg(plots.durations(cases, "d")))
