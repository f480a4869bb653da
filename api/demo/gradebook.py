"""The demo's gradebook: each class's year of line items, results and attainments, planned."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from api.demo.data import (
    ACTIVE,
    COMMENTS,
    DEMO_TENANT,
    PROJECT_COMMENTS,
    YEAR_GOALS,
    YEAR_OPENINGS,
    YEAR_STRENGTHS,
    line_items_of,
)
from api.demo.planned import DemoClass, DemoStep, DemoStudent
from api.demo.school_year import SchoolYear, morning
from domain.commands import Actor, PutLineItem, RecordAssessment, RecordAttainment

__all__ = ["GradebookPlanner"]


class GradebookPlanner:
    """Plans the gradebook of a school year, drawing from the demo's random generator."""

    def __init__(self, *, rng: random.Random, year: SchoolYear) -> None:
        self.rng = rng
        self.year = year

    def steps(self, classes: list[DemoClass]) -> list[DemoStep]:
        """Line items, results and attainments of every class, in the order of the year."""
        gradebook: list[tuple[date, int, int, DemoStep]] = []

        def add(kind: str, actor: Actor, command: object, when: date, priority: int) -> None:
            gradebook.append((when, priority, len(gradebook), DemoStep(kind, actor, command, when)))

        for school_class in classes:
            teacher = Actor(DEMO_TENANT, "teacher", school_class.teacher)
            items = self._line_items(school_class)
            for line_item in items:
                add("line items", teacher, line_item, line_item.assign_date.date(), 0)
            for student in school_class.students:
                for result in self._results(school_class, student, items):
                    add("results", teacher, result, result.assessed_at, 1)
                for attainment in self._attainments(school_class, student, items):
                    add("attainments", teacher, attainment, attainment.assessed_at, 2)
        # Line items before their results, results before the attainments they evidence.
        gradebook.sort(key=lambda entry: entry[:3])
        return [step for *_, step in gradebook]

    def _line_items(self, school_class: DemoClass) -> list[PutLineItem]:
        year = self.year
        shift = self.rng.randint(-3, 3)  # classes do not all test on the same day
        items = []
        for number, item in enumerate(line_items_of(school_class.grade), start=1):
            if item.category == "yearReport":
                assign, due, period = year.end - timedelta(days=14), year.end, year.spring_id
            else:
                term_start = year.spring_start if item.spring else year.start
                assign = term_start + timedelta(days=item.assign_offset + shift)
                due = term_start + timedelta(days=item.due_offset + shift)
                period = year.spring_id if item.spring else year.autumn_id
            items.append(
                PutLineItem(
                    sourced_id=f"li-{school_class.sourced_id.removeprefix('cls-')}-{number:02d}",
                    status=ACTIVE,
                    title=item.title,
                    description=None,
                    school_class=school_class.sourced_id,
                    category=item.category,
                    assign_date=morning(assign),
                    due_date=morning(due),
                    grading_period=period,
                    objectives=item.objectives,
                    result_min=Decimal(0) if item.points else None,
                    result_max=Decimal(item.points) if item.points else None,
                )
            )
        return items

    def _results(
        self, school_class: DemoClass, student: DemoStudent, items: list[PutLineItem]
    ) -> Iterator[RecordAssessment]:
        rng = self.rng
        year = self.year
        grades: list[int] = []
        for item in items:
            sourced_id = f"res-{item.sourced_id.removeprefix('li-')}-{student.person.sourced_id}"
            if item.category == "yearReport":
                yield self._year_report(sourced_id, school_class, student, item, grades)
                continue
            due = item.due_date.date()
            share = self._performance(student, due)
            score = None
            if item.result_max is not None:
                score = Decimal(round(share * float(item.result_max) * 2)) / 2  # half points
            grade = _grade_of(share)
            grades.append(grade)
            comment = None
            if item.category == "project" and rng.random() < 0.35:
                comment = rng.choice(PROJECT_COMMENTS)
            elif rng.random() < 0.12:
                comment = rng.choice(COMMENTS[_level_of(share)])
            term_end = year.end if due > year.autumn_end else year.autumn_end
            yield RecordAssessment(
                sourced_id=sourced_id,
                student=student.person.sourced_id,
                school_class=school_class.sourced_id,
                line_item=item.sourced_id,
                score=score,
                grade=str(grade),
                comment=comment,
                objectives=[],
                assessed_at=min(due + timedelta(days=rng.randint(2, 9)), term_end),
                # About one in twenty handed in late; from the id, so the random stream
                # (and with it the rest of the demo) stays as it was.
                late=zlib.crc32(sourced_id.encode()) % 20 == 0,
            )

    def _year_report(
        self,
        sourced_id: str,
        school_class: DemoClass,
        student: DemoStudent,
        item: PutLineItem,
        grades: list[int],
    ) -> RecordAssessment:
        rng = self.rng
        share = self._performance(student, self.year.end)
        grade: str | None = None
        if school_class.grade == 3:
            # A verbal year report in grade 3; numeric grades start in grade 4.
            comment: str | None = " ".join(
                (
                    YEAR_OPENINGS[_level_of(share)],
                    rng.choice(YEAR_STRENGTHS),
                    rng.choice(YEAR_GOALS),
                )
            )
        else:
            recent = grades[len(grades) // 2 :]  # the spring's work weighs double
            average = (sum(grades) + sum(recent)) / (len(grades) + len(recent))
            grade = str(min(10, max(4, round(average + rng.gauss(0, 0.3)))))
            comment = rng.choice(COMMENTS[_level_of(share)]) if rng.random() < 0.3 else None
        return RecordAssessment(
            sourced_id=sourced_id,
            student=student.person.sourced_id,
            school_class=school_class.sourced_id,
            line_item=item.sourced_id,
            score=None,
            grade=grade,
            comment=comment,
            objectives=[],
            assessed_at=item.due_date.date(),
        )

    def _attainments(
        self, school_class: DemoClass, student: DemoStudent, items: list[PutLineItem]
    ) -> Iterator[RecordAttainment]:
        """Four objectives per student, each assessed two or three times: trends to show."""
        year = self.year
        november = year.start + timedelta(days=100)
        march = year.spring_start + timedelta(days=75)
        may = year.end - timedelta(days=2)
        extra = self.rng.choice((11, 12, 13))
        schedule = {
            10: (november, march, may),
            7: (november, march, may),
            5: (march, may),
            extra: (march, may),
        }
        for number, days in schedule.items():
            objective = f"MA.3-6.T{number}"
            for day in days:
                evidence = [
                    item.sourced_id
                    for item in items
                    if objective in item.objectives
                    and item.due_date.date() <= day
                    and item.category != "yearReport"
                ]
                yield RecordAttainment(
                    student=student.person.sourced_id,
                    school_class=school_class.sourced_id,
                    objective=objective,
                    level=_level_of(self._performance(student, day)),
                    evidence=evidence,
                    assessed_at=day,
                )

    def _performance(self, student: DemoStudent, day: date) -> float:
        """The share of a task's points the student gets on `day`: ability, trend, luck."""
        progress = (day - self.year.start).days / max(1, (self.year.end - self.year.start).days)
        share = student.ability + student.trend * progress + self.rng.gauss(0.0, 0.08)
        return min(1.0, max(0.0, share))


def _grade_of(share: float) -> int:
    """A test grade from the share of points, as Finnish primary schools commonly scale it."""
    for grade, threshold in ((10, 0.95), (9, 0.85), (8, 0.73), (7, 0.60), (6, 0.48), (5, 0.35)):
        if share >= threshold:
            return grade
    return 4


def _level_of(share: float) -> int:
    """An attainment level (1 not yet reached … 4 excellent) from the share of points."""
    return 4 if share >= 0.88 else 3 if share >= 0.70 else 2 if share >= 0.50 else 1
