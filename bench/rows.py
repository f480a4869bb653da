"""The report's rows: each measure's value beside its raw baseline of the same run, and its goal.

A row is what `$DATA_DIR/bench/latest.json` holds, one per measure, so that two commits'
files compare row by row: `{"measure", "value", "unit", "baseline", "ratio", "goal", "met"}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Goal", "Row", "at_least", "below", "no_goal"]


@dataclass(frozen=True)
class Goal:
    """What a measure must show (issue 14, "Done when"): a ratio to its baseline of at least
    `ratio`, or a latency below `below_ms`; neither for a measure reported for information."""

    text: str
    ratio: float | None = None
    below_ms: float | None = None

    def met(self, *, value: float, ratio: float | None, held: bool) -> bool | None:
        """Whether `value` (and its `ratio`) meet the goal; None when there is no goal.

        `held` is False when the load that produced the value did not do all it was asked
        (a command failed, an erasure never confirmed): no goal is met then."""
        if self.ratio is not None:
            return held and ratio is not None and ratio >= self.ratio
        if self.below_ms is not None:
            return held and value < self.below_ms
        return None


def at_least(ratio: float, baseline: str) -> Goal:
    """A rate of at least `ratio` × `baseline`'s."""
    return Goal(f"≥ {ratio:g}× {baseline}", ratio=ratio)


def below(milliseconds: float, condition: str = "") -> Goal:
    """A latency below `milliseconds`, under `condition` (e.g. "at 100 req/s")."""
    return Goal(
        f"< {milliseconds:g} ms" + (f" {condition}" if condition else ""), below_ms=milliseconds
    )


def no_goal(text: str = "") -> Goal:
    """No goal: the row is reported for information (and beside its baseline)."""
    return Goal(text)


@dataclass(frozen=True, kw_only=True)
class Row:
    """One measure of the run, as latest.json holds it."""

    measure: str
    value: float
    unit: str
    #: The raw baseline's value in the same run (same unit), or None where there is none.
    baseline: float | None
    #: value / baseline; None without a baseline.
    ratio: float | None
    #: The goal as text, e.g. "≥ 0.5× trivial endpoint req/s at 32 clients".
    goal: str
    #: Whether the goal was met; None when the row has no goal.
    met: bool | None

    @classmethod
    def of(
        cls,
        measure: str,
        *,
        value: float,
        unit: str,
        baseline: float | None,
        goal: Goal,
        held: bool = True,
    ) -> Row:
        """The row of `value` beside `baseline`, judged by `goal`."""
        ratio = round(value / baseline, 4) if baseline else None
        return cls(
            measure=measure,
            value=round(value, 3),
            unit=unit,
            baseline=None if baseline is None else round(baseline, 3),
            ratio=ratio,
            goal=goal.text,
            met=goal.met(value=value, ratio=ratio, held=held),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
