"""Server-rendered SVG charts: geometry only, no Django, no domain knowledge.

A chart is computed here (bars, lines, ticks, in SVG user units) and drawn by
templates/dashboard/_chart.html, which escapes every label. Each chart carries
its own data table, so a screen reader (or a person who wants the numbers) gets
the same facts as the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 64
MARGIN_RIGHT = 12
MARGIN_TOP = 14
MARGIN_BOTTOM = 52
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    tooltip: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    tooltip: str


@dataclass(frozen=True)
class Line:
    """One series: a polyline per unbroken run of values, and a dot per value."""

    segments: list[str]
    color: str
    dashed: bool
    dots: list[Dot]


@dataclass(frozen=True)
class LegendEntry:
    name: str
    color: str
    dashed: bool
    line: bool


@dataclass(frozen=True)
class Chart:
    """Everything the template needs; ``rows`` is the fallback table."""

    slug: str
    title: str
    summary: str
    x_label: str
    y_label: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    legend: list[LegendEntry] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    empty: bool = False

    @property
    def x_label_x(self) -> float:
        return (self.plot_left + self.plot_right) / 2

    @property
    def y_label_y(self) -> float:
        return (self.plot_top + self.plot_bottom) / 2

    @property
    def y_tick_x(self) -> float:
        return self.plot_left - 6

    @property
    def x_tick_y(self) -> float:
        return self.plot_bottom + 16

    @property
    def x_label_y(self) -> float:
        return self.height - 8


def nice_ceiling(value: float, ticks: int = 4) -> tuple[float, float]:
    """A round top for the y axis and its tick step (1, 2, 2.5 or 5 × 10^n)."""
    if value <= 0:
        return 1.0, 0.25
    raw_step = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw_step))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step * ticks >= value:
            return step * ticks, step
    return 10 * magnitude * ticks, 10 * magnitude  # pragma: no cover (the loop always returns)


def plain_number(value: float) -> str:
    """Axis numbers people read at a glance: 1,200 · 2.5 · 0.25 · 12k."""
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _x_ticks(categories: Sequence[str], centre: Callable[[int], float]) -> list[Tick]:
    every = max(1, math.ceil(len(categories) / MAX_X_LABELS))
    # Count back from the newest bucket, so the latest one is always labelled.
    last = len(categories) - 1
    return [
        Tick(centre(index), label)
        for index, label in enumerate(categories)
        if (last - index) % every == 0
    ]


def _y_ticks(top: float, step: float, scale: Callable[[float], float]) -> list[Tick]:
    count = round(top / step)
    return [Tick(scale(step * n), plain_number(step * n)) for n in range(count + 1)]


def _frame() -> tuple[float, float, float, float]:
    return MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, HEIGHT - MARGIN_BOTTOM


def _table(
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float | None], str],
    *,
    total: bool,
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    columns = [s.name for s in series] + (["Total"] if total else [])
    rows = []
    for index, category in enumerate(categories):
        cells = [fmt(s.values[index]) for s in series]
        if total:
            cells.append(fmt(sum(s.values[index] or 0 for s in series)))
        rows.append((category, cells))
    return columns, rows


def _number_cell(value: float | None) -> str:
    return "—" if value is None else plain_number(value)


def stacked_bars(
    *,
    slug: str,
    title: str,
    x_label: str,
    y_label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_format: Callable[[float | None], str] = _number_cell,
    tick_labels: Sequence[str] | None = None,
) -> Chart:
    """One bar per category, its series stacked bottom-up in the given order.

    ``categories`` name the buckets in tooltips and the table; ``tick_labels``
    (same length) may shorten them under the x axis.
    """
    left, right, top, bottom = _frame()
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(categories))]
    peak = max(totals, default=0)
    axis_top, step = nice_ceiling(peak)
    slot = (right - left) / max(len(categories), 1)
    bar_width = max(slot * 0.72, 1.0)

    def scale(value: float) -> float:
        return bottom - (value / axis_top) * (bottom - top)

    bars: list[Bar] = []
    for index, category in enumerate(categories):
        base = 0.0
        x = left + slot * index + (slot - bar_width) / 2
        for s in series:
            value = s.values[index] or 0
            if value <= 0:
                continue
            y_top, y_base = scale(base + value), scale(base)
            bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(y_top, 2),
                    width=round(bar_width, 2),
                    height=round(max(y_base - y_top, 0.5), 2),
                    color=s.color,
                    tooltip=f"{category} · {s.name}: {value_format(value)}",
                )
            )
            base += value
    columns, rows = _table(categories, series, value_format, total=len(series) > 1)
    return Chart(
        slug=slug,
        title=title,
        summary=f"{title}: total {value_format(sum(totals))}, peak {value_format(peak)}.",
        x_label=x_label,
        y_label=y_label,
        width=WIDTH,
        height=HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        x_ticks=_x_ticks(tick_labels or categories, lambda i: left + slot * i + slot / 2),
        y_ticks=_y_ticks(axis_top, step, scale),
        bars=bars,
        legend=[LegendEntry(s.name, s.color, dashed=False, line=False) for s in series],
        columns=columns,
        rows=rows,
        empty=peak == 0,
    )


def line_chart(
    *,
    slug: str,
    title: str,
    x_label: str,
    y_label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_format: Callable[[float | None], str] = _number_cell,
    tick_labels: Sequence[str] | None = None,
) -> Chart:
    """One polyline per series; a gap (None) breaks the line instead of faking a zero."""
    left, right, top, bottom = _frame()
    peak = max((v for s in series for v in s.values if v is not None), default=0.0)
    axis_top, step = nice_ceiling(peak)
    slot = (right - left) / max(len(categories), 1)

    def scale(value: float) -> float:
        return bottom - (value / axis_top) * (bottom - top)

    def centre(index: int) -> float:
        return left + slot * index + slot / 2

    lines: list[Line] = []
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        dots: list[Dot] = []
        for index, value in enumerate(s.values):
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            x, y = round(centre(index), 2), round(scale(value), 2)
            runs[-1].append((x, y))
            dots.append(Dot(x, y, f"{categories[index]} · {s.name}: {value_format(value)}"))
        segments = [" ".join(f"{x},{y}" for x, y in run) for run in runs if run]
        lines.append(Line(segments=segments, color=s.color, dashed=s.dashed, dots=dots))
    columns, rows = _table(categories, series, value_format, total=False)
    return Chart(
        slug=slug,
        title=title,
        summary=f"{title}: highest {value_format(peak)}." if peak else f"{title}: no data.",
        x_label=x_label,
        y_label=y_label,
        width=WIDTH,
        height=HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        x_ticks=_x_ticks(tick_labels or categories, centre),
        y_ticks=_y_ticks(axis_top, step, scale),
        lines=lines,
        legend=[LegendEntry(s.name, s.color, dashed=s.dashed, line=True) for s in series],
        columns=columns,
        rows=rows,
        empty=peak == 0,
    )


# --- markup -------------------------------------------------------------------------
# Hundreds of rects and cells go through the Django template engine slowly
# (about 20 µs a variable), so the repetitive parts are written here, with every
# text escaped; the template keeps the figure, legend and <details> around them.


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def svg_body(chart: Chart) -> str:
    """The inside of the chart's <svg>: grid, bars or lines, axes, tick and axis labels."""
    parts: list[str] = ['<g class="grid">']
    for tick in chart.y_ticks:
        parts.append(
            f'<line x1="{chart.plot_left}" x2="{chart.plot_right}" '
            f'y1="{tick.position:.2f}" y2="{tick.position:.2f}"></line>'
            f'<text class="tick" x="{chart.y_tick_x}" y="{tick.position:.2f}" dy="0.32em" '
            f'text-anchor="end">{escape(tick.label)}</text>'
        )
    parts.append("</g>")
    for bar in chart.bars:
        parts.append(
            f'<rect x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}" '
            f'fill="{_attr(bar.color)}"><title>{escape(bar.tooltip)}</title></rect>'
        )
    for line in chart.lines:
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        parts.append('<g class="series">')
        for segment in line.segments:
            parts.append(
                f'<polyline points="{segment}" fill="none" stroke="{_attr(line.color)}" '
                f'stroke-width="2"{dash}></polyline>'
            )
        for dot in line.dots:
            parts.append(
                f'<circle cx="{dot.x}" cy="{dot.y}" r="2.5" fill="{_attr(line.color)}">'
                f"<title>{escape(dot.tooltip)}</title></circle>"
            )
        parts.append("</g>")
    parts.append(
        f'<line class="axis" x1="{chart.plot_left}" x2="{chart.plot_right}" '
        f'y1="{chart.plot_bottom}" y2="{chart.plot_bottom}"></line>'
        f'<line class="axis" x1="{chart.plot_left}" x2="{chart.plot_left}" '
        f'y1="{chart.plot_top}" y2="{chart.plot_bottom}"></line>'
    )
    for tick in chart.x_ticks:
        parts.append(
            f'<text class="tick" x="{tick.position:.2f}" y="{chart.x_tick_y}" '
            f'text-anchor="middle">{escape(tick.label)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{chart.x_label_x}" y="{chart.x_label_y}" '
        f'text-anchor="middle">{escape(chart.x_label)}</text>'
        f'<text class="axis-label" transform="translate(14 {chart.y_label_y}) rotate(-90)" '
        f'text-anchor="middle">{escape(chart.y_label)}</text>'
    )
    if chart.empty:
        parts.append(
            f'<text class="empty-label" x="{chart.x_label_x}" y="{chart.y_label_y}" '
            'text-anchor="middle">No data in this period</text>'
        )
    return "".join(parts)


def table_body(chart: Chart) -> str:
    """The fallback table's <tbody> rows: one per category, a cell per series."""
    rows = []
    for label, cells in chart.rows:
        tds = "".join(f'<td class="num">{escape(cell)}</td>' for cell in cells)
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{tds}</tr>')
    return "".join(rows)
