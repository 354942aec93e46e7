"""qiflow.spc.chart: the SVG's structure (elements, colours, text), not its pixels."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from qiflow.exceptions import ValidationError
from qiflow.spc import run_chart, xmr
from qiflow.spc.chart import Cycle, describe, render_svg, write_chart

SVG = "{http://www.w3.org/2000/svg}"
VALUES = [50, 51, 49, 52, 48, 51, 50, 49, 52, 48, 51, 49, 55, 56, 54, 57, 55, 56, 58, 55]
VALUES += [56, 57, 60, 59, 61, 60]
DATES = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(len(VALUES))]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


def by_id(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("id", "").startswith(prefix)]


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()).strip() for e in root.iter(f"{SVG}text")]


def styles(element: ET.Element) -> str:
    return " ".join(e.get("style", "") for e in element.iter())


@pytest.fixture(scope="module")
def chart() -> ET.Element:
    result = xmr(VALUES, target=56, rebase=[20])
    svg = render_svg(
        result,
        title="Discharges before noon (%)",
        dates=DATES,
        cycles=[Cycle(12, "PDSA 1"), Cycle(DATES[17], "PDSA 2")],
        unit="%",
    )
    return parse(svg)


def test_the_svg_has_a_title_and_description_for_screen_readers(chart: ET.Element) -> None:
    assert chart.tag == f"{SVG}svg"
    assert chart.get("role") == "img"
    assert chart.get("aria-labelledby") == "spc-title spc-desc"
    first, second = list(chart)[:2]
    assert (first.tag, first.text) == (f"{SVG}title", "Discharges before noon (%)")
    assert second.tag == f"{SVG}desc"
    desc = second.text or ""
    assert "XmR chart of 26 points (higher is better)" in desc
    assert "Target 56: hit and miss target" in desc
    assert "Limits rebased 1 time(s)" in desc


def test_labels_stay_text(chart: ET.Element) -> None:
    words = texts(chart)
    labels = ["Discharges before noon (%)", "Rebased", "PDSA 1", "PDSA 2", "Target 56", "Mean"]
    labels += ["Process limits", "Special cause: improvement", "Special cause: concern"]
    labels += ["Common cause", "Hit and miss target", "%"]
    assert [label for label in labels if label not in words] == []
    # no glyph outlines: svg.fonttype "none" keeps text as <text>, not paths
    assert not [e for e in chart.iter() if e.get("id", "").startswith("DejaVuSans")]


def test_each_line_and_point_group_is_there_in_its_colour(chart: ET.Element) -> None:
    ids = [e.get("id") for e in chart.iter() if e.get("id")]
    assert [i for i, n in Counter(ids).items() if n > 1] == []  # ids are unique
    assert len(by_id(chart, "spc-mean-")) == 2  # one mean per limit period
    assert len(by_id(chart, "spc-upl-")) == 2
    assert len(by_id(chart, "spc-lpl-")) == 2
    assert len(by_id(chart, "spc-rebase-label-")) == 1
    assert len(by_id(chart, "spc-cycle-label-")) == 2
    assert "#000000" in styles(by_id(chart, "spc-mean-0")[0])
    upper = styles(by_id(chart, "spc-upl-0")[0])
    assert "#a6a6a6" in upper
    assert "stroke-dasharray" in upper
    assert "#de1b1b" in styles(by_id(chart, "spc-target")[0])
    for group, colour in (
        ("spc-points-special_cause_improvement", "#00b0f0"),
        ("spc-points-special_cause_concern", "#e46c0a"),
        ("spc-points-common_cause", "#a6a6a6"),
    ):
        [element] = by_id(chart, group)
        assert colour in styles(element), group
        assert len(element.findall(f".//{SVG}use")) > 0  # one marker per point
    improvement = by_id(chart, "spc-points-special_cause_improvement")[0]
    # first period mean (600 + 446) / 20 = 52.3; points 12-19 (55 56 54 57 55 56 58 55) are
    # eight in a row above it: a shift, an improvement when higher is better
    assert len(improvement.findall(f".//{SVG}use")) == 8


def test_the_icons_are_labelled_shapes(chart: ET.Element) -> None:
    [variation] = by_id(chart, "spc-variation-icon")
    [assurance] = by_id(chart, "spc-assurance-icon")
    assert "Common cause" in texts(variation)
    assert {"?", "Hit and miss target"} <= set(texts(assurance))
    assert "#a6a6a6" in styles(assurance)


def test_improvement_icon_and_no_assurance_without_a_target() -> None:
    result = xmr([*VALUES[:12], 70], improvement="increase")
    root = parse(render_svg(result, title="Up"))
    [variation] = by_id(root, "spc-variation-icon")
    assert {"H", "Improvement (high)"} <= set(texts(variation))
    assert "#00b0f0" in styles(variation)
    assert by_id(root, "spc-assurance-icon") == []
    assert by_id(root, "spc-target") == []
    assert "Point" in texts(root)  # no dates: the x axis counts points


def test_neutral_special_causes_are_purple() -> None:
    root = parse(render_svg(xmr([*VALUES[:12], 70], improvement="neutral"), title="Neutral"))
    [group] = by_id(root, "spc-points-special_cause_neutral_high")
    assert "#490092" in styles(group)


def test_a_run_chart_has_a_median_and_no_limits() -> None:
    result = run_chart([3, 4, 2, 3, 6, 7, 5, 8, 6, 9, 7, 1, 2])
    root = parse(render_svg(result, title="Early data"))
    assert len(by_id(root, "spc-median")) == 1
    assert by_id(root, "spc-upl") == []
    assert by_id(root, "spc-variation-icon") == []
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert "run chart of 13 points" in (desc.text or "")
    assert "Signals: shift" in (desc.text or "")


def test_write_chart_writes_svg_and_png(tmp_path: Path) -> None:
    result = xmr(VALUES)
    svg = write_chart(result, tmp_path / "chart.svg", title="Chart")
    assert parse(svg.read_text()).tag == f"{SVG}svg"
    png = write_chart(result, tmp_path / "chart.png", title="Chart", cycles=[Cycle(3, "PDSA")])
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size[0] > 600
    with pytest.raises(ValidationError, match=r"must end in \.svg or \.png"):
        write_chart(result, tmp_path / "chart.pdf", title="Chart")
    assert not (tmp_path / "chart.pdf").exists()


def test_bad_chart_input_is_refused() -> None:
    result = xmr(VALUES)
    with pytest.raises(ValidationError, match="25 dates for 26 points"):
        render_svg(result, title="t", dates=DATES[:-1])
    with pytest.raises(ValidationError, match="placed by date but the chart has no dates"):
        render_svg(result, title="t", cycles=[Cycle(DATES[0], "PDSA 1")])
    with pytest.raises(ValidationError, match="outside the chart's 26 points"):
        render_svg(result, title="t", cycles=[Cycle(26, "PDSA 1")])


def test_title_text_is_escaped() -> None:
    root = parse(render_svg(xmr([1, 2, 3]), title="A & B <C>"))
    assert root.find(f"{SVG}title") is not None
    assert root.find(f"{SVG}title").text == "A & B <C>"  # type: ignore[union-attr]


def test_describe_names_the_reading() -> None:
    result = xmr([30, 31, 29, 32, 30, 31, 29, 30, 32, 31, 30, 29, 31, 30, 45], target=20)
    text = describe(result, title="Audit")
    assert text.startswith("Audit: XmR chart of 15 points (higher is better).")
    assert "Variation: improvement (high)." in text
    assert "Target 20: passes target." in text


def test_importing_qiflow_does_not_import_matplotlib() -> None:
    code = "import sys, qiflow, qiflow.spc; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
