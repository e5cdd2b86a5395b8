"""The SVG chart helper: scales, stacking, gaps, ticks, escaping. Pure functions, no database."""

from __future__ import annotations

import pytest

from webapp.dashboard import charts


@pytest.mark.parametrize(
    ("peak", "top", "step"),
    [(0, 1.0, 0.25), (3, 4, 1), (7, 8, 2), (10, 10, 2.5), (95, 100, 25), (1234, 2000, 500)],
)
def test_the_y_axis_ends_on_a_round_number_above_the_peak(
    peak: float, top: float, step: float
) -> None:
    assert charts.nice_ceiling(peak) == (top, step)


def _bars() -> charts.Chart:
    return charts.stacked_bars(
        slug="t",
        title="Searches",
        x_label="Day",
        y_label="Searches",
        categories=["a", "b", "c"],
        series=[
            charts.Series("done", [2, 0, 4], "#0a0"),
            charts.Series("failed", [2, 1, None], "#a00"),
        ],
    )


def test_stacked_bars_are_proportional_and_stacked_in_series_order() -> None:
    chart = _bars()
    plot_height = chart.plot_bottom - chart.plot_top  # the axis tops out at 4
    by_tooltip = {bar.tooltip: bar for bar in chart.bars}
    assert set(by_tooltip) == {"a · done: 2", "a · failed: 2", "b · failed: 1", "c · done: 4"}
    assert by_tooltip["c · done: 4"].height == pytest.approx(plot_height)
    done_a, failed_a = by_tooltip["a · done: 2"], by_tooltip["a · failed: 2"]
    assert done_a.height == pytest.approx(plot_height / 2)
    assert failed_a.y + failed_a.height == pytest.approx(done_a.y)  # failed sits on done
    assert chart.rows == [("a", ["2", "2", "4"]), ("b", ["0", "1", "1"]), ("c", ["4", "—", "4"])]
    assert chart.columns == ["done", "failed", "Total"]
    assert not chart.empty


def test_a_chart_of_zeros_says_it_is_empty() -> None:
    chart = charts.stacked_bars(
        slug="z",
        title="Nothing",
        x_label="x",
        y_label="y",
        categories=["a"],
        series=[charts.Series("s", [0], "#000")],
    )
    assert chart.empty
    assert chart.bars == []
    assert "No data in this period" in charts.svg_body(chart)


def test_a_line_breaks_where_a_value_is_missing_instead_of_drawing_zero() -> None:
    chart = charts.line_chart(
        slug="l",
        title="Latency",
        x_label="Day",
        y_label="ms",
        categories=["1", "2", "3", "4", "5"],
        series=[charts.Series("p50", [100, 200, None, 300, 400], "#00f", dashed=True)],
    )
    (line,) = chart.lines
    assert len(line.segments) == 2
    assert [len(segment.split()) for segment in line.segments] == [2, 2]
    assert len(line.dots) == 4
    assert 'stroke-dasharray="6 4"' in charts.svg_body(chart)


def test_at_most_eight_x_labels_and_the_newest_is_always_one() -> None:
    categories = [f"d{n}" for n in range(30)]
    chart = charts.stacked_bars(
        slug="x",
        title="t",
        x_label="x",
        y_label="y",
        categories=categories,
        series=[charts.Series("s", [1] * 30, "#000")],
    )
    labels = [tick.label for tick in chart.x_ticks]
    assert len(labels) <= charts.MAX_X_LABELS
    assert labels[-1] == "d29"


def test_text_is_escaped_in_the_svg_and_the_table() -> None:
    chart = charts.stacked_bars(
        slug="e",
        title="t",
        x_label="<x>",
        y_label="y & z",
        categories=['<img src=x onerror="alert(1)">'],
        series=[charts.Series("<b>s</b>", [1], "#000")],
    )
    svg, table = charts.svg_body(chart), charts.table_body(chart)
    for markup in (svg, table):
        assert "<img" not in markup
        assert "<b>" not in markup
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in table
    assert "y &amp; z" in svg
