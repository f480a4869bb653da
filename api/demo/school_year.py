"""The Finnish school year the demo is set in: its terms, and the most recent completed one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = ["SchoolYear", "last_completed_school_year", "morning", "school_year_starting"]


@dataclass(frozen=True)
class SchoolYear:
    """A Finnish school year: mid-August to the Saturday of ISO week 22, two terms."""

    start_year: int
    start: date
    autumn_end: date
    spring_start: date
    end: date

    @property
    def sourced_id(self) -> str:
        return f"sy-{self.start_year}-{self.start_year + 1}"

    @property
    def autumn_id(self) -> str:
        return f"term-{self.start_year}-autumn"

    @property
    def spring_id(self) -> str:
        return f"term-{self.start_year + 1}-spring"


def school_year_starting(year: int) -> SchoolYear:
    """The school year that starts in August of `year`."""
    # Finnish schools start on the Monday of week 33 (±1) and end on the Saturday of
    # week 22; the autumn term ends before Christmas, the spring term starts after Epiphany.
    spring_start = date(year + 1, 1, 7)
    while spring_start.weekday() >= 5:
        spring_start += timedelta(days=1)
    return SchoolYear(
        start_year=year,
        start=date.fromisocalendar(year, 33, 1),
        autumn_end=date.fromisocalendar(year, 51, 6),
        spring_start=spring_start,
        end=date.fromisocalendar(year + 1, 22, 6),
    )


def last_completed_school_year(today: date) -> SchoolYear:
    """The most recent school year that has ended by `today`."""
    year = school_year_starting(today.year - 1)
    return year if year.end <= today else school_year_starting(today.year - 2)


def morning(day: date) -> datetime:
    """The start of a school day in Finland (06:00 UTC is 08:00 there in winter)."""
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)
