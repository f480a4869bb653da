"""Objective attainment: how far a student has reached one curriculum objective in a class."""

from __future__ import annotations

from datetime import date

from eventsourcing.domain import Aggregate, event

#: Levels of attainment used by Finnish schools' objective-based assessment (1 = not yet
#: reached … 4 = reached excellently).
ATTAINMENT_LEVELS = (1, 2, 3, 4)


class ObjectiveAttainment(Aggregate):
    """The attainments of one student, in one class, of one curriculum objective.

    Each assessment is an event, so the history of levels is the student's trend.
    """

    class Assessed(Aggregate.Created):
        student: str
        school_class: str
        objective: str
        subject: str
        grades: str
        eperusteet_id: int | None
        level: int
        evidence: list[str]
        assessor: str
        assessed_at: date

    @event(Assessed)
    def __init__(
        self,
        student: str,
        school_class: str,
        objective: str,
        subject: str,
        grades: str,
        eperusteet_id: int | None,
        level: int,
        evidence: list[str],
        assessor: str,
        assessed_at: date,
    ) -> None:
        self.student = student
        self.school_class = school_class
        self.objective = objective
        self.subject = subject
        self.grades = grades
        self.eperusteet_id = eperusteet_id
        self.level = level
        self.evidence = evidence
        self.assessor = assessor
        self.assessed_at = assessed_at
        self.history: list[tuple[date, int]] = [(assessed_at, level)]

    class Reassessed(Aggregate.Event):
        level: int
        evidence: list[str]
        assessor: str
        assessed_at: date

    @event(Reassessed)
    def _reassessed(
        self, level: int, evidence: list[str], assessor: str, assessed_at: date
    ) -> None:
        self.level = level
        self.evidence = evidence
        self.assessor = assessor
        self.assessed_at = assessed_at
        self.history.append((assessed_at, level))

    def reassess(
        self, *, level: int, evidence: list[str], assessor: str, assessed_at: date
    ) -> None:
        self._reassessed(level, evidence, assessor, assessed_at)
