"""The class dashboard the reads measure: a class with a year of results and attainments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.bootstrap import Container
from bench.roster import ADMIN_SUBJECT, STUDENTS_PER_CLASS, add_class, enrol
from domain.commands import Actor, PutLineItem, RecordAssessment, RecordAttainment

__all__ = ["DASHBOARD_PATH", "seed_dashboard_class"]

DASHBOARD_CLASS = "cls-dashboard"
DASHBOARD_PATH = f"/api/v1/dashboards/classes/{DASHBOARD_CLASS}"
#: A year of assessment: line items spread over it; each student has a result for each.
DASHBOARD_LINE_ITEMS = 12
#: Every objective of the curriculum's mathematics 3–6 (14), each assessed twice a year.
DASHBOARD_OBJECTIVES = tuple(f"MA.3-6.T{n}" for n in range(1, 15))


def seed_dashboard_class(container: Container, tenant: str) -> str:
    """A 25-student class with 14 objectives and a year of results and attainments in the
    seeded roster; returns its teacher's token."""
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
    days = [
        today - timedelta(days=30 * (DASHBOARD_LINE_ITEMS - n)) for n in range(DASHBOARD_LINE_ITEMS)
    ]
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
    for round_number, day in enumerate((days[2], days[-2])):
        for objective in DASHBOARD_OBJECTIVES:
            for index, student in enumerate(students):
                level = 1 + (index + round_number) % 4
                app.record_attainment(
                    teacher, RecordAttainment(student, DASHBOARD_CLASS, objective, level, [], day)
                )
    return container.tokens.issue(tenant=tenant, role="teacher", subject=teacher.subject)
