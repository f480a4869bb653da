"""Assessments, attainments, line items and consents over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.assessment import Result
from domain.attainment import ObjectiveAttainment
from domain.ids import aggregate_id
from tests.builders import a_school, an_assessment, bearer, put


def test_a_teacher_records_an_assessment_and_its_verbal_comment_is_sealed(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)

    response = client.post("/api/v1/assessments", json=an_assessment(), headers=school.teacher)

    assert response.status_code == 201
    body = response.json()
    assert body["position"] == app.head_position()
    result: object = app.repository.get(aggregate_id(tenant, "results", body["sourcedId"]))
    assert isinstance(result, Result)
    assert (result.grade, result.assessor, result.student) == ("9", "tch-1", "stu-1")
    assert result.comment is not None
    assert app.sealer.unseal(result.comment) == {"comment": "Hyvää työtä murtoluvuissa."}


def test_a_correction_is_a_new_event_and_the_first_assessment_stays_in_the_log(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    first = client.post(
        "/api/v1/assessments", json=an_assessment(sourcedId="res-1"), headers=school.teacher
    )

    second = client.post(
        "/api/v1/assessments",
        json=an_assessment(sourcedId="res-1", grade="10"),
        headers=school.teacher,
    )

    assert first.status_code == second.status_code == 201
    events = app.repository.event_store.get(aggregate_id(tenant, "results", "res-1"))
    assert [type(e).__name__ for e in events] == ["Recorded", "Corrected"]
    assert [
        e.grade
        for e in app.repository.event_store.get(aggregate_id(tenant, "results", "res-1"))
        if isinstance(e, Result.Recorded | Result.Corrected)
    ] == ["9", "10"]


def test_attainments_of_one_objective_build_a_history(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    body = {
        "student": "stu-1",
        "class": "cls-4a",
        "objective": "MA.3-6.T5",
        "level": 2,
        "assessedAt": "2025-10-01",
    }

    first = client.post("/api/v1/attainments", json=body, headers=school.teacher)
    second = client.post(
        "/api/v1/attainments",
        json={**body, "level": 3, "assessedAt": "2026-02-01"},
        headers=school.teacher,
    )

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    attainment: object = app.repository.get(
        aggregate_id(tenant, "attainments", "stu-1|cls-4a|MA.3-6.T5")
    )
    assert isinstance(attainment, ObjectiveAttainment)
    assert [level for _, level in attainment.history] == [2, 3]
    assert attainment.eperusteet_id is not None or attainment.objective == "MA.3-6.T5"


def test_a_line_item_links_curriculum_objectives(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)

    response = client.put(
        "/api/v1/lineItems/li-1",
        json={
            "lineItem": {
                "title": "Murtoluvut",
                "assignDate": "2026-02-01T08:00:00Z",
                "dueDate": "2026-02-14T16:00:00Z",
                "class": {"sourcedId": "cls-4a"},
                "category": {"sourcedId": "test"},
                "resultValueMin": 0,
                "resultValueMax": 20,
                "learningObjectiveSet": [
                    {"source": "POPS2014", "learningObjectiveIds": ["MA.3-6.T5"]}
                ],
            }
        },
        headers=school.teacher,
    )
    scored = client.post(
        "/api/v1/assessments", json=an_assessment(lineItem="li-1", score=17), headers=school.teacher
    )

    assert response.status_code == 201 and scored.status_code == 201
    assert app.find("lineItems", "li-1").objectives == ["MA.3-6.T5"]  # type: ignore[union-attr]


def test_a_line_item_put_again_is_revised_in_place_and_cannot_move_class(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    item = {
        "title": "Murtoluvut",
        "assignDate": "2026-02-01T08:00:00Z",
        "dueDate": "2026-02-14T16:00:00Z",
        "class": {"sourcedId": "cls-4a"},
        "category": {"sourcedId": "test"},
        "resultValueMin": 0,
        "resultValueMax": 20,
    }
    created = client.put("/api/v1/lineItems/li-1", json={"lineItem": item}, headers=school.teacher)

    revised = client.put(
        "/api/v1/lineItems/li-1",
        json={"lineItem": {**item, "title": "Murtoluvut 2", "resultValueMax": 30}},
        headers=school.teacher,
    )
    moved = client.put(
        "/api/v1/lineItems/li-1",
        json={"lineItem": {**item, "class": {"sourcedId": "cls-other"}}},
        headers=school.teacher,
    )

    assert created.status_code == 201
    assert revised.status_code == 200, revised.text
    line_item = app.find("lineItems", "li-1")
    assert (line_item.title, line_item.result_max) == ("Murtoluvut 2", 30)  # type: ignore[union-attr]
    assert moved.status_code in (403, 404, 409, 422), moved.text
    assert app.find("lineItems", "li-1").school_class == "cls-4a"  # type: ignore[union-attr]


def test_a_guardian_grants_and_withdraws_a_consent_for_their_child(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    grant = {
        "student": "stu-1",
        "grantedBy": "grd-1",
        "recipient": "matikka-app",
        "purposes": ["learning-app"],
        "categories": ["roster", "assessment"],
        "validUntil": "2026-12-31",
    }

    granted = client.post("/api/v1/consents", json=grant, headers=school.guardian)
    withdrawn = client.delete(
        f"/api/v1/consents/{granted.json()['consentId']}", headers=school.guardian
    )

    assert granted.status_code == 201
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "revoked"
    assert app.get_consent(granted.json()["consentId"]).state == "revoked"


def test_a_student_of_thirteen_grants_their_own_consent(
    client: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(client, container, tenant)
    put(client, school.admin, "demographics", "stu-2", "demographics", {"birthDate": "2012-01-15"})

    response = client.post(
        "/api/v1/consents",
        json={
            "student": "stu-2",
            "grantedBy": "stu-2",
            "recipient": "kielisovellus",
            "purposes": ["learning-app"],
            "categories": ["roster"],
        },
        headers=bearer(container, tenant, "student", "stu-2"),
    )

    assert response.status_code == 201


def test_an_expired_consent_is_recorded_as_expired(
    client: TestClient, container: Container, tenant: str, app: TenantApplication, clock: object
) -> None:
    school = a_school(client, container, tenant)
    granted = client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["roster"],
            "validUntil": "2026-03-31",
        },
    )
    consent_id = granted.json()["consentId"]

    clock.advance(days=40)  # type: ignore[attr-defined]
    expired = app.expire_due_consents([consent_id])

    assert expired == 1
    assert app.get_consent(consent_id).state == "expired"
