"""Small bar and line charts as inline SVG, drawn on the server (no script, no style attribute: the
console's CSP forbids inline styles, so colours come from classes in console.css).

Each chart is an image with a title and a description for screen readers; the page shows a table
of the same figures next to it, which is the accessible form of the data.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 40
LABEL_WIDTH = 220  # horizontal bars: room for the labels on the left
BAR_HEIGHT, BAR_GAP = 22, 8

Point = Tuple[str, Optional[float]]  # a label and its value (None: nothing to show)


def _top_of(values: Sequence[Optional[float]]) -> float:
    """The axis maximum: the largest value, at least 1."""
    return max([v for v in values if v is not None] + [1.0])


def _svg(chart_id: str, title: str, description: str, height: int, body: List[str]) -> Markup:
    """The SVG element around `body`, labelled by its title and description."""
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
        + "".join(body) + "</svg>")


def _axis(top: float, value_label: str, plot_height: int) -> List[str]:
    """The y axis line with its maximum and zero."""
    bottom = TOP + plot_height
    return [
        f'<line class="chart-axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line class="chart-axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>',
        f'<text class="chart-label" x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end">{escape(value_label)}</text>',
        f'<text class="chart-label" x="{LEFT - 4}" y="{bottom}" text-anchor="end">0</text>',
    ]


def _every(count: int, room: int = 12) -> int:
    """Label every n-th point so at most `room` labels are drawn."""
    return max((count + room - 1) // room, 1)


def bar_chart(chart_id: str, title: str, points: Sequence[Point], *, unit: str = "") -> Markup:
    """Vertical bars, one per point (e.g. one per day), labels below (thinned out when many)."""
    plot_height = HEIGHT - TOP - BOTTOM
    top = _top_of([v for _, v in points])
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    body = _axis(top, _shown(top, unit), plot_height)
    step = _every(len(points))
    for index, (label, value) in enumerate(points):
        height = (value or 0) / top * plot_height
        x = LEFT + index * slot + slot * 0.15
        body.append(f'<rect class="chart-bar" x="{x:.1f}" y="{TOP + plot_height - height:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{height:.1f}"><title>{escape(label)}: '
                    f'{escape(_shown(value, unit))}</title></rect>')
        if index % step == 0:
            body.append(f'<text class="chart-label" x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    return _svg(chart_id, title, _describe(points, unit), HEIGHT, body)


def line_chart(chart_id: str, title: str, points: Sequence[Point], *, unit: str = "") -> Markup:
    """A line through the points (gaps where a value is None), with a dot on each."""
    plot_height = HEIGHT - TOP - BOTTOM
    top = _top_of([v for _, v in points])
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    body = _axis(top, _shown(top, unit), plot_height)
    step = _every(len(points))
    segments: List[List[str]] = [[]]
    for index, (label, value) in enumerate(points):
        x = LEFT + index * slot + slot / 2
        if index % step == 0:
            body.append(f'<text class="chart-label" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
        if value is None:
            segments.append([])
            continue
        y = TOP + plot_height - value / top * plot_height
        segments[-1].append(f"{x:.1f},{y:.1f}")
        body.append(f'<circle class="chart-dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(label)}: '
                    f'{escape(_shown(value, unit))}</title></circle>')
    for segment in segments:
        if len(segment) > 1:
            body.insert(4, f'<polyline class="chart-line" points="{" ".join(segment)}"/>')
    return _svg(chart_id, title, _describe(points, unit), HEIGHT, body)


def hbar_chart(chart_id: str, title: str, points: Sequence[Point], *, unit: str = "") -> Markup:
    """Horizontal bars with their labels on the left and values at their end (for categories)."""
    height = TOP + len(points) * (BAR_HEIGHT + BAR_GAP) + 4
    top = _top_of([v for _, v in points])
    room = WIDTH - LABEL_WIDTH - RIGHT - 48
    body: List[str] = []
    for index, (label, value) in enumerate(points):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        length = (value or 0) / top * room
        body.append(f'<text class="chart-label" x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT * 0.7:.1f}" '
                    f'text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect class="chart-bar" x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" '
                    f'height="{BAR_HEIGHT}"/>')
        body.append(f'<text class="chart-value" x="{LABEL_WIDTH + length + 6:.1f}" '
                    f'y="{y + BAR_HEIGHT * 0.7:.1f}">{escape(_shown(value, unit))}</text>')
    return _svg(chart_id, title, _describe(points, unit), height, body)


def _shown(value: Optional[float], unit: str = "") -> str:
    """A value as the chart writes it, with its unit ("%")."""
    return "no data" if value is None else f"{value:g}{unit}"


def _describe(points: Sequence[Point], unit: str) -> str:
    """A one-line text of the figures (the table beside the chart has them too)."""
    return "; ".join(f"{label}: {_shown(value, unit)}" for label, value in points) or "No data"
