"""Roster commands over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.roster import Enrollment, SchoolClass, User
from tests.builders import a_school, a_user, bearer, put


def test_putting_a_new_record_answers_201_with_its_store_position(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    admin = bearer(container, tenant, "admin", "a")

    response = client.put(
        "/api/v1/roster/orgs/dist-9",
        json={"org": {"name": "Kunta", "type": "district", "identifier": "9"}},
        headers=admin,
    )

    assert response.status_code == 201
    assert response.json() == {
        "sourcedId": "dist-9",
        "position": app.head_position(),
        "changed": True,
    }


def test_putting_the_same_record_again_records_nothing(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    admin = bearer(container, tenant, "admin", "a")
    body = {"org": {"name": "Kunta", "type": "district", "identifier": "9"}}
    client.put("/api/v1/roster/orgs/dist-9", json=body, headers=admin)
    head = app.head_position()

    response = client.put("/api/v1/roster/orgs/dist-9", json=body, headers=admin)

    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert app.head_position() == head


def test_each_roster_change_is_its_own_specific_event(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    put(
        client,
        school.admin,
        "users",
        "grd-2",
        "user",
        a_user("grd-2", "guardian", given="Ulla", family="Toinen"),
    )
    head = app.head_position()
    changed = a_user("stu-1", "student", given="Aino", family="Korjattu", agents=("grd-2",))

    put(client, school.admin, "users", "stu-1", "user", changed)

    new_events = list(app.recorder.select_notifications(start=head + 1, limit=100))
    topics = sorted(n.topic.rsplit(".", 1)[-1] for n in new_events)
    assert topics == ["GuardianLinked", "GuardianUnlinked", "PersonalDetailsCorrected"]
    assert app.personal_details("stu-1")["familyName"] == "Korjattu"  # type: ignore[index]
    assert app.user("stu-1").guardians == ["grd-2"]


def test_delete_marks_the_record_tobedeleted_and_keeps_it(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)

    response = client.delete("/api/v1/roster/enrollments/enr-2", headers=school.admin)

    assert response.status_code == 200
    enrollment: object = app.repository.get(aggregate_id(tenant, "enrollments", "enr-2"))
    assert isinstance(enrollment, Enrollment) and enrollment.status == "tobedeleted"
    school_class: object = app.repository.get(aggregate_id(tenant, "classes", "cls-4a"))
    assert isinstance(school_class, SchoolClass)
    assert not school_class.has_member("stu-2", "student")


def test_every_roster_family_round_trips_through_a_fresh_store_reader(
    client: TestClient, container: Container, tenant: str, settings: object
) -> None:
    a_school(client, container, tenant)
    put(
        client,
        bearer(container, tenant, "admin", "a"),
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-05-04", "sex": "female"},
    )
    container.tenants.close()  # drop every cached aggregate: read back from stored events

    reopened = container.tenants.get(tenant)

    student = reopened.user("stu-1")
    assert isinstance(student, User) and student.is_student and student.guardians == ["grd-1"]
    assert reopened.personal_details("stu-1")["givenName"] == "Aino"  # type: ignore[index]
    school_class = reopened.find("classes", "cls-4a")
    assert isinstance(school_class, SchoolClass) and school_class.has_member("tch-1", "teacher")
    assert school_class.terms == ["year-2026"]
    for collection, sourced_id in (
        ("orgs", "sch-1"),
        ("academicSessions", "year-2026"),
        ("courses", "ma-4"),
        ("enrollments", "enr-1"),
        ("demographics", "stu-1"),
    ):
        assert reopened.find(collection, sourced_id) is not None, collection
