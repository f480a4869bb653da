"""One result per student per line item (OneRoster): a second is refused, a correction names
the first; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.assessment import Result
from domain.commands import Actor, RecordAssessment
from domain.ids import aggregate_id
from tests.builders import School, a_school, an_assessment


def _school_with_a_line_item(client: TestClient, container: Container, tenant: str) -> School:
    school = a_school(client, container, tenant)
    item: dict[str, Any] = {
        "title": "Murtoluvut",
        "assignDate": "2026-02-01T08:00:00Z",
        "dueDate": "2026-02-14T16:00:00Z",
        "class": {"sourcedId": "cls-4a"},
        "category": {"sourcedId": "test"},
    }
    response = client.put("/api/v1/lineItems/li-1", json={"lineItem": item}, headers=school.teacher)
    assert response.status_code == 201, response.text
    return school


def _assess(client: TestClient, headers: dict[str, str], **overrides: Any) -> Response:
    """POSTs an_assessment() of stu-1 for line item li-1, with `overrides`."""
    body = an_assessment(lineItem="li-1", **overrides)
    response: Response = client.post("/api/v1/assessments", json=body, headers=headers)
    return response


def test_a_second_result_for_the_same_student_and_line_item_is_refused_naming_the_first(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = _school_with_a_line_item(client, container, tenant)
    first = _assess(client, school.teacher)
    head = app.head_position()

    second = _assess(client, school.teacher, grade="6", comment="Toinen arvio.")

    assert first.status_code == 201
    assert second.status_code == 409
    problem = second.json()
    assert problem["type"] == "urn:digione:problem:result-exists"
    assert problem["field"] == "lineItem"
    assert first.json()["sourcedId"] in problem["detail"]
    assert app.head_position() == head


def test_the_log_holds_one_result_for_the_student_and_line_item_after_a_refused_second(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = _school_with_a_line_item(client, container, tenant)
    first = _assess(client, school.teacher)

    _assess(client, school.teacher, comment="Toinen arvio.")

    recorded = [
        n
        for n in app.recorder.select_notifications(1, limit=100_000)
        if n.topic.endswith("Result.Recorded")
    ]
    assert [n.originator_id for n in recorded] == [
        aggregate_id(tenant, "results", first.json()["sourcedId"])
    ]


def test_a_teacher_corrects_the_result_by_posting_with_its_sourced_id(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = _school_with_a_line_item(client, container, tenant)
    first = _assess(client, school.teacher)
    sourced_id = first.json()["sourcedId"]

    corrected = _assess(client, school.teacher, sourcedId=sourced_id, grade="10")

    assert corrected.status_code == 201
    assert corrected.json()["sourcedId"] == sourced_id
    result: object = app.repository.get(aggregate_id(tenant, "results", sourced_id))
    assert isinstance(result, Result) and result.grade == "10"


def test_a_result_with_its_own_sourced_id_is_refused_when_the_student_has_one(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = _school_with_a_line_item(client, container, tenant)
    _assess(client, school.teacher, sourcedId="res-1")
    head = app.head_position()

    other = _assess(client, school.teacher, sourcedId="res-2")

    assert other.status_code == 409
    assert "'res-1'" in other.json()["detail"]
    assert app.head_position() == head


def test_a_retry_with_the_first_posts_idempotency_key_gets_its_answer_and_a_new_key_a_conflict(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = _school_with_a_line_item(client, container, tenant)
    first = _assess(client, {**school.teacher, "Idempotency-Key": "li-retry"})

    retried = _assess(client, {**school.teacher, "Idempotency-Key": "li-retry"})
    new_key = _assess(client, {**school.teacher, "Idempotency-Key": "li-other"})

    assert (first.status_code, retried.status_code, new_key.status_code) == (201, 201, 409)
    assert retried.json() == first.json()
    assert retried.headers.get("idempotent-replayed") == "true"


def test_a_retry_that_raced_past_the_stored_answer_addresses_the_same_result(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    _school_with_a_line_item(client, container, tenant)
    teacher = Actor(tenant, "teacher", "tch-1")
    command = RecordAssessment(
        None, "stu-1", "cls-4a", "li-1", None, "9", None, [], date(2026, 2, 20)
    )
    first = app.record_assessment(teacher, command, idempotency_seed="raced")

    again = app.record_assessment(teacher, command, idempotency_seed="raced")

    assert again.id == first.id
    assert again.created is False


def test_two_results_of_a_student_for_a_class_without_a_line_item_are_both_kept(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    first = client.post("/api/v1/assessments", json=an_assessment(), headers=school.teacher)

    second = client.post(
        "/api/v1/assessments", json=an_assessment(grade="6"), headers=school.teacher
    )

    assert first.status_code == second.status_code == 201
    assert first.json()["sourcedId"] != second.json()["sourcedId"]
