"""The server-drawn SVG charts: bars to scale, labels escaped, gaps in lines, a description for each."""
from __future__ import annotations

import re

from bot.console.charts import bar_chart, hbar_chart, line_chart


def test_bars_are_drawn_to_scale_with_their_values_in_titles() -> None:
    svg = str(bar_chart("c", "Per day", [("18 Nov", 3), ("19 Nov", 1), ("20 Nov", 2)]))
    heights = [float(h) for h in re.findall(r'<rect class="chart-bar"[^>]* height="([\d.]+)"', svg)]
    assert heights == [188.0, 62.7, 125.3]  # the plot is 188 high; 3 is the top
    assert "<title>19 Nov: 1</title>" in svg and '<desc id="c-desc">18 Nov: 3; 19 Nov: 1; 20 Nov: 2</desc>' in svg
    assert 'role="img" aria-labelledby="c-title c-desc"' in svg


def test_labels_are_escaped() -> None:
    svg = str(hbar_chart("h", "Reasons <x>", [("<script>", 1)], unit="%"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and ">1%</text>" in svg


def test_a_line_breaks_where_there_is_no_value() -> None:
    svg = str(line_chart("l", "Rate", [("a", 10.0), ("b", None), ("c", 20.0), ("d", 40.0)], unit="%"))
    assert len(re.findall("<polyline", svg)) == 1  # "a" stands alone; c-d are joined
    assert len(re.findall("<circle", svg)) == 3 and "b: no data" in svg and ">40%</text>" in svg
