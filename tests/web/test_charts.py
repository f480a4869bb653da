"""Chart geometry: points placed by date and value, axis ticks, a class's spread as a bar."""

from __future__ import annotations

from datetime import date

from api.web.charts import TimeChart, range_bar, time_chart


def _chart(points: list[tuple[date, float]], start: date, end: date) -> TimeChart:
    return time_chart(
        points,
        start=start,
        end=end,
        y_min=1,
        y_max=4,
        y_labels={1.0: "1", 4.0: "4"},
        point_label=lambda day, value: f"{day}: {value:g}",
        month_label=lambda day: f"{day.month}/{day.year}",
        width=300,
        height=130,
    )


def test_points_are_placed_left_to_right_by_date_and_upwards_by_value() -> None:
    chart = _chart(
        [(date(2026, 3, 1), 4), (date(2025, 9, 1), 1)], date(2025, 9, 1), date(2026, 3, 1)
    )

    first, last = chart.markers
    assert (first.x, first.y) == (chart.left, chart.bottom)
    assert (last.x, last.y) == (chart.right, chart.top)
    assert chart.line == f"M{first.x},{first.y} L{last.x},{last.y}"
    assert first.label == "2025-09-01: 1"


def test_month_ticks_are_thinned_to_a_readable_few() -> None:
    chart = _chart([(date(2025, 8, 15), 2)], date(2025, 8, 15), date(2026, 5, 30))

    assert [t.label for t in chart.x_ticks] == ["9/2025", "11/2025", "1/2026", "3/2026", "5/2026"]


def test_a_single_day_gets_a_span_around_it() -> None:
    chart = _chart([(date(2026, 2, 16), 3)], date(2026, 2, 16), date(2026, 2, 16))

    (point,) = chart.markers
    assert chart.left < point.x < chart.right


def test_a_distribution_is_drawn_on_its_scale() -> None:
    bar = range_bar(
        {"count": 3, "mean": 15.0, "median": 20.0, "min": 0.0, "max": 30.0},
        low=0,
        high=30,
        width=68,
    )

    assert bar is not None
    assert (bar.x_min, bar.x_median, bar.x_mean, bar.x_max) == (4.0, 44.0, 34.0, 64.0)


def test_no_results_draw_no_bar() -> None:
    assert range_bar({"count": 0}, low=0, high=30) is None
