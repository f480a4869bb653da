"""Assessment aggregates (OneRoster 1.2 gradebook): line items and results.

A correction of a result is a new event; nothing recorded is ever overwritten. The
teacher's verbal assessment is personal data of the student and is sealed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.record import SourcedRecord
from domain.sealing import SealedValue

#: The Finnish grading scale for basic and general upper secondary education: numeric
#: grades 4 (fail) to 10 (excellent), S pass (hyväksytty) and H fail (hylätty).
FINNISH_GRADES = ("4", "5", "6", "7", "8", "9", "10", "S", "H")
#: OneRoster 1.2 Result.scoreStatus.
SCORE_STATUSES = frozenset(
    {"exempt", "fully graded", "not submitted", "partially graded", "submitted"}
)


class LineItem(SourcedRecord):
    """Something assessed in a class: a test, a project, a term grade."""

    class Registered(Aggregate.Created):
        sourced_id: str
        title: str
        description: str | None
        school_class: str
        category: str
        assign_date: datetime
        due_date: datetime
        grading_period: str | None
        objectives: list[str]
        result_min: Decimal | None
        result_max: Decimal | None

    @event(Registered)
    def __init__(
        self,
        sourced_id: str,
        title: str,
        description: str | None,
        school_class: str,
        category: str,
        assign_date: datetime,
        due_date: datetime,
        grading_period: str | None,
        objectives: list[str],
        result_min: Decimal | None,
        result_max: Decimal | None,
    ) -> None:
        self.sourced_id = sourced_id
        self.title = title
        self.description = description
        self.school_class = school_class
        self.category = category
        self.assign_date = assign_date
        self.due_date = due_date
        self.grading_period = grading_period
        self.objectives = objectives
        self.result_min = result_min
        self.result_max = result_max

    class Retitled(Aggregate.Event):
        title: str
        description: str | None
        category: str

    @event(Retitled)
    def _retitled(self, title: str, description: str | None, category: str) -> None:
        self.title = title
        self.description = description
        self.category = category

    class Rescheduled(Aggregate.Event):
        assign_date: datetime
        due_date: datetime
        grading_period: str | None

    @event(Rescheduled)
    def _rescheduled(
        self, assign_date: datetime, due_date: datetime, grading_period: str | None
    ) -> None:
        self.assign_date = assign_date
        self.due_date = due_date
        self.grading_period = grading_period

    class ObjectivesLinked(Aggregate.Event):
        objectives: list[str]

    @event(ObjectivesLinked)
    def _objectives_linked(self, objectives: list[str]) -> None:
        self.objectives = objectives

    class ScaleChanged(Aggregate.Event):
        result_min: Decimal | None
        result_max: Decimal | None

    @event(ScaleChanged)
    def _scale_changed(self, result_min: Decimal | None, result_max: Decimal | None) -> None:
        self.result_min = result_min
        self.result_max = result_max

    def revise(
        self,
        *,
        title: str,
        description: str | None,
        category: str,
        assign_date: datetime,
        due_date: datetime,
        grading_period: str | None,
        objectives: list[str],
        result_min: Decimal | None,
        result_max: Decimal | None,
    ) -> None:
        if (title, description, category) != (self.title, self.description, self.category):
            self._retitled(title, description, category)
        if (assign_date, due_date, grading_period) != (
            self.assign_date,
            self.due_date,
            self.grading_period,
        ):
            self._rescheduled(assign_date, due_date, grading_period)
        if objectives != self.objectives:
            self._objectives_linked(objectives)
        if (result_min, result_max) != (self.result_min, self.result_max):
            self._scale_changed(result_min, result_max)


class Result(SourcedRecord):
    """One assessment of one student: score, Finnish grade, verbal assessment."""

    class Recorded(Aggregate.Created):
        sourced_id: str
        student: str
        school_class: str
        line_item: str | None
        score: Decimal | None
        grade: str | None
        score_status: str
        objectives: list[str]
        assessed_at: date
        assessor: str
        comment: SealedValue | None
        #: Submitted past the due date (OneRoster 1.2 Result.late).
        late: bool = False

        #: 2: `late` added; events stored as version 1 are upcast as not late.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["late"] = False

    @event(Recorded)
    def __init__(
        self,
        sourced_id: str,
        student: str,
        school_class: str,
        line_item: str | None,
        score: Decimal | None,
        grade: str | None,
        score_status: str,
        objectives: list[str],
        assessed_at: date,
        assessor: str,
        comment: SealedValue | None,
        late: bool = False,
    ) -> None:
        self.sourced_id = sourced_id
        self.student = student
        self.school_class = school_class
        self.line_item = line_item
        self.score = score
        self.grade = grade
        self.score_status = score_status
        self.objectives = objectives
        self.assessed_at = assessed_at
        self.assessor = assessor
        self.comment = comment
        self.late = late

    created_event_name = "Recorded"

    class Corrected(Aggregate.Event):
        """A new assessment replaces the earlier one; the earlier stays in the log."""

        score: Decimal | None
        grade: str | None
        score_status: str
        objectives: list[str]
        assessed_at: date
        assessor: str
        comment: SealedValue | None
        #: As Recorded.late.
        late: bool = False

        #: 2: `late` added; events stored as version 1 are upcast as not late.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["late"] = False

    @event(Corrected)
    def _corrected(
        self,
        score: Decimal | None,
        grade: str | None,
        score_status: str,
        objectives: list[str],
        assessed_at: date,
        assessor: str,
        comment: SealedValue | None,
        late: bool = False,
    ) -> None:
        self.score = score
        self.grade = grade
        self.score_status = score_status
        self.objectives = objectives
        self.assessed_at = assessed_at
        self.assessor = assessor
        self.comment = comment
        self.late = late

    def correct(
        self,
        *,
        score: Decimal | None,
        grade: str | None,
        score_status: str,
        objectives: list[str],
        assessed_at: date,
        assessor: str,
        comment: SealedValue | None,
        late: bool = False,
    ) -> None:
        self._corrected(
            score, grade, score_status, objectives, assessed_at, assessor, comment, late
        )


class Category(SourcedRecord):
    """A gradebook category (OneRoster 1.2 Category) defined by a service or the school,
    e.g. `homework` with a weight; a category a line item names without one is read as a
    category too."""

    class Registered(Aggregate.Created):
        sourced_id: str
        title: str
        weight: Decimal | None

    @event(Registered)
    def __init__(self, sourced_id: str, title: str, weight: Decimal | None) -> None:
        self.sourced_id = sourced_id
        self.title = title
        self.weight = weight

    class Revised(Aggregate.Event):
        title: str
        weight: Decimal | None

    @event(Revised)
    def _revised(self, title: str, weight: Decimal | None) -> None:
        self.title = title
        self.weight = weight

    def revise(self, *, title: str, weight: Decimal | None) -> None:
        if (title, weight) != (self.title, self.weight):
            self._revised(title, weight)


class ScoreScale(SourcedRecord):
    """A class's score scale (OneRoster 1.2 ScoreScale): its values (`itemValueLHS`) and
    what each means (`itemValueRHS`), in order. The Finnish 4–10 and S/H scales are built
    in and need none."""

    class Registered(Aggregate.Created):
        sourced_id: str
        title: str
        scale_type: str
        school_class: str
        course: str | None
        values: list[str]
        meanings: list[str]

    @event(Registered)
    def __init__(
        self,
        sourced_id: str,
        title: str,
        scale_type: str,
        school_class: str,
        course: str | None,
        values: list[str],
        meanings: list[str],
    ) -> None:
        self.sourced_id = sourced_id
        self.title = title
        self.scale_type = scale_type
        self.school_class = school_class
        self.course = course
        self.values = values
        self.meanings = meanings

    class Revised(Aggregate.Event):
        title: str
        scale_type: str
        course: str | None
        values: list[str]
        meanings: list[str]

    @event(Revised)
    def _revised(
        self,
        title: str,
        scale_type: str,
        course: str | None,
        values: list[str],
        meanings: list[str],
    ) -> None:
        self.title = title
        self.scale_type = scale_type
        self.course = course
        self.values = values
        self.meanings = meanings

    def revise(
        self,
        *,
        title: str,
        scale_type: str,
        course: str | None,
        values: list[str],
        meanings: list[str],
    ) -> None:
        revised = (title, scale_type, course, values, meanings)
        if revised != (self.title, self.scale_type, self.course, self.values, self.meanings):
            self._revised(*revised)
