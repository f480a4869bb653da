"""GET /api/v1/subjects/{sourcedId}/export: everything held about a person, opened, for the
person (from 15), their guardian (under 18) and admins, and nobody else."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.access.conftest import Pupil, born, export, head, wait_for
from tests.builders import a_user, an_assessment, bearer, put


def _assess(client: TestClient, pupil: Pupil, **overrides: Any) -> None:
    body = an_assessment(**{"comment": pupil.comment, **overrides})
    response = client.post("/api/v1/assessments", headers=pupil.school.teacher, json=body)
    assert response.status_code == 201, response.text


def _attain(client: TestClient, pupil: Pupil, level: int) -> None:
    response = client.post(
        "/api/v1/attainments",
        headers=pupil.school.teacher,
        json={
            "student": "stu-1",
            "class": "cls-4a",
            "objective": "MA.3-6.T5",
            "level": level,
            "assessedAt": "2026-02-20",
        },
    )
    assert response.status_code == 201, response.text


def _consent(client: TestClient, pupil: Pupil) -> str:
    response = client.post(
        "/api/v1/consents",
        headers=pupil.school.guardian,
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "oppimissovellus",
            "purposes": ["learning-app"],
            "categories": ["identity", "assessment"],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["consentId"])


def _year_report(client: TestClient, pupil: Pupil, text: str) -> None:
    response = client.put(
        "/api/v1/lineItems/li-year",
        headers=pupil.school.teacher,
        json={
            "lineItem": {
                "title": "Lukuvuositodistus",
                "assignDate": "2026-02-01T08:00:00Z",
                "dueDate": "2026-02-28T16:00:00Z",
                "class": {"sourcedId": "cls-4a"},
                "category": {"sourcedId": "yearReport"},
            }
        },
    )
    assert response.status_code == 201, response.text
    _assess(client, pupil, lineItem="li-year", comment=text)


def _fields(aggregate: dict[str, Any], event: str) -> dict[str, Any]:
    [found] = [e["fields"] for e in aggregate["events"] if e["type"].split(".")[-2] == event]
    return dict(found)


def test_a_guardians_export_holds_the_childs_names_assessment_attainments_consents_in_plaintext(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    _assess(running, pupil)
    _attain(running, pupil, 2)
    _attain(running, pupil, 3)
    consent_id = _consent(running, pupil)

    response = export(running, pupil.school.guardian, "stu-1", at_least=head(container, tenant))

    assert response.status_code == 200, response.text
    document = response.json()
    registered = _fields(document["user"], "registered")
    assert registered["personal"]["givenName"] == pupil.given
    assert registered["personal"]["familyName"] == pupil.family
    assert _fields(document["demographics"], "recorded")["personal"] == {"birthDate": "2016-05-04"}
    [result] = document["results"]
    assert _fields(result, "recorded")["comment"] == {"comment": pupil.comment}
    assert _fields(result, "recorded")["grade"] == "9"
    [attainment] = document["attainments"]
    assert [e["fields"]["level"] for e in attainment["events"]] == [2, 3]
    [consent] = document["consents"]
    assert consent["id"] == consent_id
    assert _fields(consent, "granted")["recipient"] == "oppimissovellus"
    assert [_fields(e, "started")["school_class"] for e in document["enrollments"]] == ["cls-4a"]
    assert document["erasures"] == []


def test_a_consent_a_guardian_granted_is_in_the_guardians_own_export(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    consent_id = _consent(running, pupil)

    response = export(running, pupil.school.admin, "grd-1", at_least=head(container, tenant))

    assert response.status_code == 200, response.text
    assert [c["id"] for c in response.json()["consents"]] == [consent_id]
    assert response.json()["results"] == []


def test_each_aggregates_events_come_in_store_order_with_type_time_and_position(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    put(
        running,
        pupil.school.admin,
        "users",
        "stu-1",
        "user",
        a_user("stu-1", "student", given="Aino-Maija", family=pupil.family, agents=("grd-1",)),
    )
    at = head(container, tenant)

    document = export(running, pupil.school.admin, "stu-1", at_least=at).json()

    events = document["user"]["events"]
    assert events[0]["type"] == "fi.digione.roster.user.registered.v1"
    assert events[-1]["type"] == "fi.digione.roster.user.personal_details_corrected.v1"
    assert events[-1]["fields"]["personal"]["givenName"] == "Aino-Maija"
    positions = [e["position"] for e in events]
    assert None not in positions and positions == sorted(positions) and positions[-1] == at
    assert all(e["occurredAt"].startswith("20") for e in events)


def test_after_an_erasure_the_export_shows_erased_for_shredded_data_and_keeps_the_year_report(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    year_report = "Vuoden arvio: edistynyt tasaisesti."
    _assess(running, pupil)
    _year_report(running, pupil, year_report)
    accepted = running.post(
        "/api/v1/erasures",
        headers=pupil.school.admin,
        json={"subject": "stu-1", "reason": "Huoltajan pyyntö"},
    )
    assert accepted.status_code == 202, accepted.text

    response = export(running, pupil.school.admin, "stu-1", at_least=accepted.json()["position"])

    assert response.status_code == 200, response.text
    document = response.json()
    assert _fields(document["user"], "registered")["personal"] == "erased"
    assert _fields(document["demographics"], "recorded")["personal"] == "erased"
    comments = [_fields(r, "recorded")["comment"] for r in document["results"]]
    assert comments == ["erased", {"comment": year_report}]  # the year report is kept
    [erased] = document["erasures"]
    assert _fields(erased, "personal_data_erased")["shredded"] == ["working"]
    assert pupil.given not in response.text and pupil.comment not in response.text


def test_the_subject_index_confirms_an_erasure_in_its_receipt(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    accepted = running.post(
        "/api/v1/erasures",
        headers=pupil.school.admin,
        json={"subject": "stu-1", "reason": "Huoltajan pyyntö"},
    )

    receipt = wait_for(
        lambda: next(
            (
                p
                for p in running.get(
                    f"/api/v1/erasures/{accepted.json()['erasureId']}", headers=pupil.school.admin
                ).json()["projections"]
                if p["projection"] == "subject_index" and p["confirmedAt"]
            ),
            None,
        ),
        within=30,
        what="the subject index to confirm the erasure",
    )

    assert receipt["confirmedAt"]


def test_a_student_of_fifteen_may_export_their_own_data(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    born(running, pupil.school, "stu-1", "2011-03-01")
    student = bearer(container, tenant, "student", "stu-1")

    response = export(running, student, "stu-1", at_least=head(container, tenant))

    assert response.status_code == 200, response.text
    assert _fields(response.json()["user"], "registered")["personal"]["givenName"] == pupil.given


def _another_tenants_admin(container: Container, tenant: str) -> dict[str, str]:
    other = tenant.removesuffix("a") + "b"
    container.tenants.create(other, name="Other municipality")
    return bearer(container, other, "admin", "admin-1")


def _guardian_of_another_child(
    client: TestClient, container: Container, pupil: Pupil
) -> dict[str, str]:
    admin, tenant = pupil.school.admin, pupil.school.tenant
    put(
        client,
        admin,
        "users",
        "grd-2",
        "user",
        a_user("grd-2", "guardian", given="Gunnar", family="Toinen"),
    )
    put(
        client,
        admin,
        "users",
        "stu-2",
        "user",
        a_user("stu-2", "student", given="Eero", family="Oppilas", agents=("grd-2",)),
    )
    return bearer(container, tenant, "guardian", "grd-2")


# Refused before any read: one backend is enough, and SQLite is the cheaper to build.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("caller", "birth_date", "status"),
    [
        ("guardian of another child", "2016-05-04", 403),
        ("student aged 14", "2011-06-01", 403),
        ("guardian of a child of age", "2008-03-01", 403),
        ("teacher of the class", "2016-05-04", 403),
        ("another tenant's admin", "2016-05-04", 404),
    ],
)
def test_the_export_is_refused_to_everyone_else_with_no_personal_data_in_the_answer(
    running: TestClient,
    container: Container,
    tenant: str,
    pupil: Pupil,
    caller: str,
    birth_date: str,
    status: int,
) -> None:
    born(running, pupil.school, "stu-1", birth_date)
    _assess(running, pupil)
    headers = {
        "guardian of another child": lambda: _guardian_of_another_child(running, container, pupil),
        "student aged 14": lambda: bearer(container, tenant, "student", "stu-1"),
        "guardian of a child of age": lambda: pupil.school.guardian,
        "teacher of the class": lambda: pupil.school.teacher,
        "another tenant's admin": lambda: _another_tenants_admin(container, tenant),
    }[caller]()

    response = export(running, headers, "stu-1", at_least=head(container, tenant))

    assert response.status_code == status
    assert set(response.json()) <= {"type", "title", "status", "detail", "field"}
    for secret in (pupil.given, pupil.family, pupil.comment, birth_date):
        assert secret not in response.text


def test_a_refusal_reads_the_same_whether_or_not_the_person_exists(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    stranger = bearer(container, tenant, "guardian", "grd-9")

    existing = running.get("/api/v1/subjects/stu-1/export", headers=stranger)
    missing = running.get("/api/v1/subjects/stu-404/export", headers=stranger)

    assert existing.status_code == missing.status_code == 403
    assert existing.json() == missing.json()


def test_a_caller_without_a_right_of_access_is_refused_at_once_whatever_min_position(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    beyond = head(container, tenant) + 1000
    stranger = bearer(container, tenant, "guardian", "grd-9")

    started = time.monotonic()
    refused = running.get(f"/api/v1/subjects/stu-1/export?min_position={beyond}", headers=stranger)
    nobody = running.get(
        f"/api/v1/subjects/stu-404/export?min_position={beyond}", headers=pupil.school.admin
    )
    answered_in = time.monotonic() - started

    assert (refused.status_code, nobody.status_code) == (403, 404)
    assert answered_in < 4  # waiting for the index would take 5 s each, and end in 504s
