"""Chart geometry for inline SVG drawn by the templates: progress over time, class spread.

Only coordinates are computed here; the templates draw them, each chart with a text
alternative (a title, a description and the same data as a table), so nothing depends on
seeing the picture or telling colours apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

__all__ = ["RangeBar", "Tick", "TimeChart", "range_bar", "time_chart"]


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    #: What the point says, e.g. "3.11.2025: 3" (shown as the point's tooltip).
    label: str


@dataclass(frozen=True)
class TimeChart:
    """One series of values over time, in a `width` × `height` viewBox."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    #: SVG path data of the line through the points.
    line: str
    markers: list[Marker]
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def time_chart(
    points: Sequence[tuple[date, float]],
    *,
    start: date,
    end: date,
    y_min: float,
    y_max: float,
    y_labels: Mapping[float, str],
    point_label: Callable[[date, float], str],
    month_label: Callable[[date], str],
    width: int = 480,
    height: int = 200,
    max_x_ticks: int = 6,
) -> TimeChart:
    """Points placed by date between `start` and `end` and by value between y_min and y_max."""
    left, right, top, bottom = 36.0, width - 20.0, 12.0, height - 30.0
    if end <= start:
        start, end = start - timedelta(days=15), end + timedelta(days=15)
    days = (end - start).days

    def x(day: date) -> float:
        return round(left + (right - left) * (day - start).days / days, 1)

    def y(value: float) -> float:
        return round(bottom - (bottom - top) * (value - y_min) / (y_max - y_min), 1)

    ordered = sorted(points)
    markers = [Marker(x(day), y(value), point_label(day, value)) for day, value in ordered]
    line = " ".join(f"{'M' if i == 0 else 'L'}{m.x},{m.y}" for i, m in enumerate(markers))
    return TimeChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        line=line,
        markers=markers,
        x_ticks=[Tick(x(month), month_label(month)) for month in _months(start, end, max_x_ticks)],
        y_ticks=[Tick(y(value), label) for value, label in sorted(y_labels.items())],
    )


def _months(start: date, end: date, most: int) -> list[date]:
    """First days of months within start…end, thinned to at most `most`."""
    months = []
    month = date(start.year, start.month, 1)
    if month < start:
        month = _next_month(month)
    while month <= end:
        months.append(month)
        month = _next_month(month)
    step = -(-len(months) // most) if months else 1
    return months[::step]


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class RangeBar:
    """A class's spread on one scale: min to max as a bar, the median and the mean marked."""

    width: int
    x_min: float
    x_max: float
    x_median: float
    x_mean: float


def range_bar(
    distribution: Mapping[str, Any], *, low: float, high: float, width: int = 160
) -> RangeBar | None:
    """The bar of a distribution (DESIGN's mean, median, min, max) on the scale low…high."""
    if not distribution.get("count") or high <= low:
        return None
    pad = 4.0

    def x(value: float) -> float:
        share = (min(max(value, low), high) - low) / (high - low)
        return round(pad + (width - 2 * pad) * share, 1)

    return RangeBar(
        width=width,
        x_min=x(distribution["min"]),
        x_max=x(distribution["max"]),
        x_median=x(distribution["median"]),
        x_mean=x(distribution["mean"]),
    )
