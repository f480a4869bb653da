"""A school whose roster then changes in every way OneRoster allows: every roster event type."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import Actor, PutUser
from domain.roster import Role
from tests.builders import School, a_school, a_user, put


def delete(client: TestClient, headers: dict[str, str], collection: str, sourced_id: str) -> None:
    response = client.delete(f"/api/v1/roster/{collection}/{sourced_id}", headers=headers)
    assert response.status_code in (200, 202, 204), response.text


def a_changing_school(client: TestClient, container: Container, tenant: str) -> School:
    """a_school, then changes that record every kind of roster event at least once."""
    school = a_school(client, container, tenant)
    admin = school.admin

    # Orgs: a second school; the first renamed, reclassified and moved under no parent.
    put(
        client,
        admin,
        "orgs",
        "sch-2",
        "org",
        {
            "name": "Metsälän koulu",
            "type": "school",
            "identifier": "02",
            "parent": {"sourcedId": "dist-1"},
        },
    )
    put(
        client,
        admin,
        "orgs",
        "sch-1",
        "org",
        {"name": "Koivukylän yhtenäiskoulu", "type": "school", "identifier": "01b"},
    )
    delete(client, admin, "orgs", "sch-2")
    put(
        client,
        admin,
        "orgs",
        "sch-2",
        "org",
        {
            "name": "Metsälän koulu",
            "type": "school",
            "identifier": "02",
            "parent": {"sourcedId": "dist-1"},
        },
    )

    # Academic sessions: a term; the year retitled, rescheduled and reclassified.
    term: dict[str, Any] = {
        "title": "Syyslukukausi",
        "type": "term",
        "startDate": "2025-08-11",
        "endDate": "2025-12-20",
        "parent": {"sourcedId": "year-2026"},
        "schoolYear": "2026",
    }
    put(client, admin, "academicSessions", "term-1", "academicSession", term)
    put(
        client,
        admin,
        "academicSessions",
        "year-2026",
        "academicSession",
        {
            "title": "Lukuvuosi 2025–2026",
            "type": "schoolYear",
            "startDate": "2025-08-08",
            "endDate": "2026-05-30",
            "schoolYear": "2026b",
        },
    )
    delete(client, admin, "academicSessions", "term-1")
    put(client, admin, "academicSessions", "term-1", "academicSession", term)

    # Courses: retitled, new curriculum, moved to the other school and a school year.
    course: dict[str, Any] = {
        "title": "Matematiikka 4 (laaja)",
        "courseCode": "MA4L",
        "org": {"sourcedId": "sch-2"},
        "schoolYear": {"sourcedId": "year-2026"},
        "grades": ["04"],
        "subjects": ["Matematiikka"],
        "subjectCodes": ["MA"],
    }
    put(client, admin, "courses", "ma-4", "course", course)
    delete(client, admin, "courses", "ma-4")
    put(client, admin, "courses", "ma-4", "course", course)

    # Classes: 5B corrected, given another term, moved to the other school.
    put(
        client,
        admin,
        "classes",
        "cls-5b",
        "class",
        {
            "title": "5B matematiikka",
            "classCode": "5B-MA",
            "classType": "scheduled",
            "location": "Luokka 12",
            "grades": ["05"],
            "periods": ["2"],
            "course": {"sourcedId": "ma-4"},
            "school": {"sourcedId": "sch-2"},
            "terms": [{"sourcedId": "year-2026"}, {"sourcedId": "term-1"}],
        },
    )
    delete(client, admin, "classes", "cls-5b")
    put(
        client,
        admin,
        "classes",
        "cls-5b",
        "class",
        {
            "title": "5B matematiikka",
            "classCode": "5B-MA",
            "classType": "scheduled",
            "location": "Luokka 12",
            "grades": ["05"],
            "periods": ["2"],
            "course": {"sourcedId": "ma-4"},
            "school": {"sourcedId": "sch-2"},
            "terms": [{"sourcedId": "year-2026"}, {"sourcedId": "term-1"}],
        },
    )

    # Users: a second guardian; stu-1 renamed, given a second role, a new guardian,
    # disabled, placed in a grade; then a role removed and enabled again.
    put(
        client,
        admin,
        "users",
        "grd-2",
        "user",
        a_user("grd-2", "guardian", given="Gunnar", family="Huoltaja"),
    )
    stu_1 = a_user("stu-1", "student", given="Aino-Maria", family="Virtanen", agents=("grd-2",))
    stu_1["roles"].append(
        {
            "roleType": "secondary",
            "role": "student",
            "org": {"sourcedId": "sch-2"},
            "beginDate": "2025-08-11",
        }
    )
    stu_1["enabledUser"] = "false"
    stu_1["grades"] = ["04"]
    stu_1["primaryOrg"] = {"sourcedId": "sch-1"}
    put(client, admin, "users", "stu-1", "user", stu_1)
    stu_1["roles"] = stu_1["roles"][1:] + stu_1["roles"][:1]
    stu_1["roles"][0]["endDate"] = "2026-05-30"
    stu_1["enabledUser"] = "true"
    put(client, admin, "users", "stu-1", "user", stu_1)
    delete(client, admin, "users", "stu-2")
    put(
        client,
        admin,
        "users",
        "stu-2",
        "user",
        a_user("stu-2", "student", given="Eero", family="Oppilas"),
    )
    stu_3 = a_user("stu-3", "student", given="Elli", family="Oppilas")
    put(client, admin, "users", "stu-3", "user", stu_3)
    stu_3["roles"] = [{"roleType": "primary", "role": "student", "org": {"sourcedId": "sch-2"}}]
    put(client, admin, "users", "stu-3", "user", stu_3)

    # Enrollments: one ended, one rescheduled and made primary, one deleted and restored.
    put(
        client,
        admin,
        "enrollments",
        "enr-1",
        "enrollment",
        {
            "user": {"sourcedId": "stu-1"},
            "class": {"sourcedId": "cls-4a"},
            "school": {"sourcedId": "sch-1"},
            "role": "student",
            "endDate": "2026-05-30",
        },
    )
    put(
        client,
        admin,
        "enrollments",
        "enr-2",
        "enrollment",
        {
            "user": {"sourcedId": "stu-2"},
            "class": {"sourcedId": "cls-4a"},
            "school": {"sourcedId": "sch-1"},
            "role": "student",
            "primary": "true",
            "beginDate": "2025-08-11",
            "endDate": "2026-05-30",
        },
    )
    delete(client, admin, "enrollments", "enr-3")
    put(
        client,
        admin,
        "enrollments",
        "enr-3",
        "enrollment",
        {
            "user": {"sourcedId": "tch-1"},
            "class": {"sourcedId": "cls-4a"},
            "school": {"sourcedId": "sch-1"},
            "role": "teacher",
        },
    )

    # Demographics: recorded, corrected, deleted and restored.
    put(
        client,
        admin,
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-05-04", "sex": "female", "cityOfBirth": "Vantaa"},
    )
    put(
        client,
        admin,
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-05-04", "sex": "female", "cityOfBirth": "Espoo"},
    )
    delete(client, admin, "demographics", "stu-1")
    put(
        client,
        admin,
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-05-04", "sex": "female", "cityOfBirth": "Espoo"},
    )
    return school


def a_crowd(app: TenantApplication, *, count: int, org: str = "sch-1") -> None:
    """`count` students of `org` (which must exist), each registered, renamed and disabled:
    three events apiece, recorded through the application (quicker than HTTP)."""
    actor = Actor(app.tenant, "admin", "admin-1")

    def student(i: int, *, family: str, enabled: bool) -> PutUser:
        return PutUser(
            sourced_id=f"crowd-{i}",
            status="active",
            enabled=enabled,
            roles=[Role("primary", "student", org)],
            primary_org=org,
            grades=["04"],
            guardians=[],
            personal={"givenName": f"Oppilas{i}", "familyName": family},
        )

    for i in range(count):
        app.put_user(actor, student(i, family="Ensimmäinen", enabled=True))
    for i in range(count):
        app.put_user(actor, student(i, family="Toinen", enabled=False))
