"""Test builders: a small school with a class, a teacher, students and guardians."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.commands import PutUser
from domain.roster import Role


def bearer(
    container: Container, tenant: str, role: str, subject: str, *scopes: str
) -> dict[str, str]:
    token = container.tokens.issue(tenant=tenant, role=role, subject=subject, scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class School:
    """What `a_school` built: ids and the headers to act as each person."""

    tenant: str
    admin: dict[str, str]
    teacher: dict[str, str]
    guardian: dict[str, str]
    other_teacher: dict[str, str]
    student_ids: list[str] = field(default_factory=list)


def put(
    client: TestClient,
    headers: dict[str, str],
    collection: str,
    sourced_id: str,
    envelope: str,
    record: dict[str, Any],
) -> Any:
    response = client.put(
        f"/api/v1/roster/{collection}/{sourced_id}", json={envelope: record}, headers=headers
    )
    assert response.status_code in (200, 201), response.text
    return response


def a_user(
    sourced_id: str,
    role: str,
    *,
    given: str,
    family: str,
    org: str = "sch-1",
    agents: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "enabledUser": "true",
        "givenName": given,
        "familyName": family,
        "email": f"{sourced_id}@example.invalid",
        "roles": [{"roleType": "primary", "role": role, "org": {"sourcedId": org}}],
        "agents": [{"sourcedId": a} for a in agents],
    }


def a_student_put(sourced_id: str, **personal: str) -> PutUser:
    """The command putting an active student of sch-1 with `personal` details (through
    the application, as an import or a route does after its checks)."""
    return PutUser(
        sourced_id=sourced_id,
        status="active",
        enabled=True,
        roles=[Role(role_type="primary", role="student", org="sch-1")],
        primary_org=None,
        grades=[],
        guardians=[],
        personal=personal,
    )


def a_school(
    client: TestClient,
    container: Container,
    tenant: str,
    *,
    student_name: tuple[str, str] = ("Aino", "Virtanen"),
) -> School:
    """District, school, year, course, class 4A with teacher tch-1, students stu-1, stu-2
    (guardian grd-1 of stu-1), and a second class 5B taught by tch-2."""
    admin = bearer(container, tenant, "admin", "admin-1")
    put(
        client,
        admin,
        "orgs",
        "dist-1",
        "org",
        {"name": "Testikunta", "type": "district", "identifier": "000"},
    )
    put(
        client,
        admin,
        "orgs",
        "sch-1",
        "org",
        {
            "name": "Koivukylän koulu",
            "type": "school",
            "identifier": "01",
            "parent": {"sourcedId": "dist-1"},
        },
    )
    put(
        client,
        admin,
        "academicSessions",
        "year-2026",
        "academicSession",
        {
            "title": "2025–2026",
            "type": "schoolYear",
            "startDate": "2025-08-11",
            "endDate": "2026-05-30",
            "schoolYear": "2026",
        },
    )
    put(
        client,
        admin,
        "courses",
        "ma-4",
        "course",
        {
            "title": "Matematiikka 4",
            "courseCode": "MA4",
            "org": {"sourcedId": "sch-1"},
            "subjectCodes": ["MA"],
        },
    )
    for class_id in ("cls-4a", "cls-5b"):
        put(
            client,
            admin,
            "classes",
            class_id,
            "class",
            {
                "title": class_id,
                "classType": "scheduled",
                "course": {"sourcedId": "ma-4"},
                "school": {"sourcedId": "sch-1"},
                "terms": [{"sourcedId": "year-2026"}],
            },
        )
    put(
        client,
        admin,
        "users",
        "grd-1",
        "user",
        a_user("grd-1", "guardian", given="Greta", family="Huoltaja"),
    )
    put(
        client,
        admin,
        "users",
        "stu-1",
        "user",
        a_user(
            "stu-1", "student", given=student_name[0], family=student_name[1], agents=("grd-1",)
        ),
    )
    put(
        client,
        admin,
        "users",
        "stu-2",
        "user",
        a_user("stu-2", "student", given="Eero", family="Oppilas"),
    )
    put(
        client,
        admin,
        "users",
        "tch-1",
        "user",
        a_user("tch-1", "teacher", given="Tiina", family="Opettaja"),
    )
    put(
        client,
        admin,
        "users",
        "tch-2",
        "user",
        a_user("tch-2", "teacher", given="Pekka", family="Opettaja"),
    )
    for enrollment, user, class_id, role in (
        ("enr-1", "stu-1", "cls-4a", "student"),
        ("enr-2", "stu-2", "cls-4a", "student"),
        ("enr-3", "tch-1", "cls-4a", "teacher"),
        ("enr-4", "tch-2", "cls-5b", "teacher"),
    ):
        put(
            client,
            admin,
            "enrollments",
            enrollment,
            "enrollment",
            {
                "user": {"sourcedId": user},
                "class": {"sourcedId": class_id},
                "school": {"sourcedId": "sch-1"},
                "role": role,
            },
        )
    return School(
        tenant=tenant,
        admin=admin,
        teacher=bearer(container, tenant, "teacher", "tch-1"),
        guardian=bearer(container, tenant, "guardian", "grd-1"),
        other_teacher=bearer(container, tenant, "teacher", "tch-2"),
        student_ids=["stu-1", "stu-2"],
    )


def an_assessment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "student": "stu-1",
        "class": "cls-4a",
        "grade": "9",
        "comment": "Hyvää työtä murtoluvuissa.",
        "objectives": ["MA.3-6.T5"],
        "assessedAt": "2026-02-20",
    }
    body.update(overrides)
    return body
