"""The roster the HTTP sections work in: a school, a course and classes, seeded untimed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import (
    Actor,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutEnrollment,
    PutOrg,
    PutUser,
)
from domain.roster import ClassDetails, Role

__all__ = [
    "ADMIN_SUBJECT",
    "COURSE",
    "SCHOOL",
    "SCHOOL_YEAR",
    "STUDENTS_PER_CLASS",
    "ClassLoad",
    "add_class",
    "enrol",
    "seed_tenant",
    "seed_users",
]

CLASSES = 2
STUDENTS_PER_CLASS = 25
#: The sourcedIds of the school, its mathematics course and the school year.
SCHOOL = "sch-1"
COURSE = "crs-ma"
SCHOOL_YEAR = "year-1"
#: Who writes the roster, and whose token the roster and erasure requests carry.
ADMIN_SUBJECT = "bench-admin"


@dataclass(frozen=True)
class ClassLoad:
    """A seeded class: who may assess in it, and whom."""

    sourced_id: str
    teacher: str
    teacher_token: str
    students: tuple[str, ...]


def seed_tenant(container: Container, tenant: str) -> tuple[list[ClassLoad], str]:
    """Creates the tenant and its roster through the application; returns the classes with
    their teachers' tokens, and an admin token."""
    app = container.tenants.create(tenant, name="Benchmark")
    today = container.clock().date()
    admin = Actor(tenant=tenant, role="admin", subject=ADMIN_SUBJECT)
    _seed_school(app, admin, today)
    classes = [
        ClassLoad(
            sourced_id=f"cls-{number}",
            teacher=f"tea-{number}",
            teacher_token=container.tokens.issue(
                tenant=tenant, role="teacher", subject=f"tea-{number}"
            ),
            students=_seed_class(app, admin, number),
        )
        for number in range(CLASSES)
    ]
    admin_token = container.tokens.issue(tenant=tenant, role="admin", subject=ADMIN_SUBJECT)
    return classes, admin_token


def _seed_school(app: TenantApplication, admin: Actor, today: date) -> None:
    # A Finnish school year runs from August to the end of July.
    first_year = today.year if today.month >= 8 else today.year - 1
    app.put_org(admin, PutOrg(SCHOOL, "active", "Benchmark School", "school", "BENCH-1", None))
    app.put_academic_session(
        admin,
        PutAcademicSession(
            SCHOOL_YEAR,
            "active",
            f"Lukuvuosi {first_year}–{first_year + 1}",
            "schoolYear",
            date(first_year, 8, 1),
            date(first_year + 1, 7, 31),
            None,
            str(first_year + 1),
        ),
    )
    app.put_course(
        admin,
        PutCourse(COURSE, "active", "Matematiikka", "MA", SCHOOL_YEAR, SCHOOL, ["07"], [], ["MA"]),
    )


def _seed_class(app: TenantApplication, admin: Actor, number: int) -> tuple[str, ...]:
    """A class with one teacher and STUDENTS_PER_CLASS students; returns the students."""
    class_id, teacher = f"cls-{number}", f"tea-{number}"
    add_class(
        app,
        admin,
        class_id=class_id,
        title=f"Matematiikka 7{chr(ord('A') + number)}",
        code=f"MA7{number}",
        grade="07",
    )
    students = tuple(f"stu-{number}-{index}" for index in range(STUDENTS_PER_CLASS))
    for user, role in ((teacher, "teacher"), *((student, "student") for student in students)):
        enrol(app, admin, user=user, role=role, school_class=class_id, enrollment=f"enr-{user}")
    return students


def seed_users(container: Container, tenant: str, sourced_ids: list[str]) -> None:
    """Registers each user as a student of the school, with sealed names of their own."""
    app = container.tenants.get(tenant)
    admin = Actor(tenant=tenant, role="admin", subject=ADMIN_SUBJECT)
    for sourced_id in sourced_ids:
        app.put_user(
            admin,
            PutUser(
                sourced_id,
                "active",
                True,
                [Role("primary", "student", SCHOOL)],
                SCHOOL,
                [],
                [],
                {"givenName": "Poistettava", "familyName": sourced_id},
            ),
        )


def add_class(
    app: TenantApplication, admin: Actor, *, class_id: str, title: str, code: str, grade: str
) -> None:
    """Adds a scheduled mathematics class of the school's course, in `grade`."""
    details = ClassDetails(
        title=title,
        class_code=code,
        class_type="scheduled",
        location=None,
        grades=[grade],
        subjects=[],
        subject_codes=["MA"],
        periods=[],
    )
    app.put_class(admin, PutClass(class_id, "active", details, COURSE, SCHOOL, [SCHOOL_YEAR]))


def enrol(
    app: TenantApplication,
    admin: Actor,
    *,
    user: str,
    role: str,
    school_class: str,
    enrollment: str,
) -> None:
    """Registers `user` at the school with `role` and enrols them in `school_class`."""
    app.put_user(
        admin,
        PutUser(
            user,
            "active",
            True,
            [Role("primary", role, SCHOOL)],
            SCHOOL,
            [],
            [],
            {"givenName": "Bench", "familyName": user},
        ),
    )
    app.put_enrollment(
        admin,
        PutEnrollment(enrollment, "active", user, school_class, SCHOOL, role, True, None, None),
    )
