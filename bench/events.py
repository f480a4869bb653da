"""Realistic stored events for the store-side measures (relay, rebuild): students with their
personal data sealed under keys of their own, each registered, corrected and enrolled."""

from __future__ import annotations

import uuid
from typing import Any

from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.roster import Enrollment, Org, SchoolClass, User
from domain.sealing import RetentionClass

__all__ = ["EVENTS_PER_STUDENT", "save_sealed_roster"]

#: User.Registered, User.PersonalDetailsCorrected and Enrollment.Registered.
EVENTS_PER_STUDENT = 3
#: Students saved per call: one store transaction each (seeding is not timed).
_SAVE_CHUNK = 500


def save_sealed_roster(app: TenantApplication, *, students: int, run: str | None = None) -> int:
    """Saves a school, a class and `students` students, each registered with sealed personal
    data (a key of the student's own, as in production), corrected once and enrolled;
    returns the number of events saved (2 + 3 × `students`).

    `run` prefixes every sourcedId, so several rosters can be saved in one tenant."""
    tenant = app.tenant
    prefix = f"{run}-" if run else ""
    school, school_class = f"{prefix}bench-school", f"{prefix}bench-class"
    app.save(
        Org.register(
            aggregate_id(tenant, "orgs", school),
            sourced_id=school,
            name="Benchmark school",
            org_type="school",
            identifier=prefix + "bench",
            parent=None,
        ),
        SchoolClass.register(
            aggregate_id(tenant, "classes", school_class),
            sourced_id=school_class,
            title="Benchmark class",
            class_code=None,
            class_type="scheduled",
            location=None,
            grades=["04"],
            subjects=[],
            subject_codes=["MA"],
            periods=[],
            course="bench-course",
            school=school,
            terms=["bench-year"],
        ),
    )
    for start in range(0, students, _SAVE_CHUNK):
        chunk: list[Any] = []
        for number in range(start, min(start + _SAVE_CHUNK, students)):
            chunk += _student(app, number, prefix=prefix, school=school, school_class=school_class)
        app.save(*chunk)
    return 2 + EVENTS_PER_STUDENT * students


def _student(
    app: TenantApplication, number: int, *, prefix: str, school: str, school_class: str
) -> list[Any]:
    tenant = app.tenant
    sourced_id = f"{prefix}bench-stu-{number}"
    subject = aggregate_id(tenant, "users", sourced_id)
    user = User.register(
        subject,
        sourced_id=sourced_id,
        enabled=True,
        roles=[
            {
                "role_type": "primary",
                "role": "student",
                "org": school,
                "begin_date": None,
                "end_date": None,
            }
        ],
        primary_org=school,
        grades=["04"],
        personal=app.sealer.seal(subject, RetentionClass.WORKING, _personal(number, "Bench")),
    )
    user.correct_personal_details(
        app.sealer.seal(subject, RetentionClass.WORKING, _personal(number, "Bench2"))
    )
    enrollment = Enrollment.register(
        aggregate_id(tenant, "enrollments", f"{prefix}bench-enr-{number}"),
        sourced_id=f"{prefix}bench-enr-{number}",
        user=sourced_id,
        school_class=school_class,
        school=school,
        role="student",
        primary=False,
        begin_date=None,
        end_date=None,
    )
    return [user, enrollment]


def _personal(number: int, family: str) -> dict[str, str]:
    """What a student information system sends about a pupil (made up, same sizes)."""
    return {
        "givenName": f"Oppilas{number}",
        "middleName": "Aleksanteri",
        "familyName": family,
        "preferredFirstName": f"Olli{number % 97}",
        "email": f"oppilas.{number}@koulu.example.invalid",
        "username": f"oppilas{number}",
        "phone": f"+358 40 {number:07d}",
        "identifier": str(uuid.UUID(int=number)),
    }
