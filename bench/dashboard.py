"""The class dashboard the reads measure: a class with a year of results and attainments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.bootstrap import Container
from bench.roster import ADMIN_SUBJECT, STUDENTS_PER_CLASS, add_class, enrol
from domain.commands import Actor, PutLineItem, RecordAssessment, RecordAttainment

__all__ = ["DASHBOARD_PATH", "seed_dashboard_class"]

DASHBOARD_CLASS = "cls-dashboard"
DASHBOARD_PATH = f"/api/v1/dashboards/classes/{DASHBOARD_CLASS}"
#: Every objective of the curriculum's mathematics 3–6 (14), each assessed twice a year.
DASHBOARD_OBJECTIVES = tuple(f"MA.3-6.T{n}" for n in range(1, 15))


def seed_dashboard_class(
    container: Container, tenant: str, *, line_items: int = 12, attainment_rounds: int = 2
) -> str:
    """A 25-student class in the seeded roster with `line_items` line items spread over a
    year, each with a result for every student, and `attainment_rounds` assessments of each
    of 14 objectives (the defaults: a year of a class's assessment); returns its teacher's
    token."""
    app = container.tenants.get(tenant)
    admin = Actor(tenant=tenant, role="admin", subject=ADMIN_SUBJECT)
    teacher = Actor(tenant=tenant, role="teacher", subject=f"tea-{DASHBOARD_CLASS}")
    today = container.clock().date()
    add_class(
        app, admin, class_id=DASHBOARD_CLASS, title="Matematiikka 5D", code="MA5D", grade="05"
    )
    students = [f"stu-d-{index}" for index in range(STUDENTS_PER_CLASS)]
    for user, role in ((teacher.subject, "teacher"), *((s, "student") for s in students)):
        enrol(
            app,
            admin,
            user=user,
            role=role,
            school_class=DASHBOARD_CLASS,
            enrollment=f"enr-d-{user}",
        )
    days = [today - timedelta(days=30 * (line_items - n)) for n in range(line_items)]
    for number, day in enumerate(days):
        moment = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        line_item = f"li-d-{number}"
        objectives = [DASHBOARD_OBJECTIVES[number % len(DASHBOARD_OBJECTIVES)]]
        app.put_line_item(
            teacher,
            PutLineItem(
                line_item,
                "active",
                f"Koe {number + 1}",
                None,
                DASHBOARD_CLASS,
                "test",
                moment,
                moment,
                None,
                objectives,
                None,
                None,
            ),
        )
        for index, student in enumerate(students):
            app.record_assessment(
                teacher,
                RecordAssessment(
                    None,
                    student,
                    DASHBOARD_CLASS,
                    line_item,
                    None,
                    str(4 + (index + number) % 7),
                    None,
                    objectives,
                    day,
                ),
            )
    rounds = [
        days[len(days) * (n + 1) // (attainment_rounds + 1)] for n in range(attainment_rounds)
    ]
    for round_number, day in enumerate(rounds):
        for objective in DASHBOARD_OBJECTIVES:
            for index, student in enumerate(students):
                level = 1 + (index + round_number) % 4
                app.record_attainment(
                    teacher, RecordAttainment(student, DASHBOARD_CLASS, objective, level, [], day)
                )
    return container.tokens.issue(tenant=tenant, role="teacher", subject=teacher.subject)
