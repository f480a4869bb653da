"""Regression tests for writes on refusal that the hostile-input run can only hit by luck."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import a_school, an_assessment
from tests.store_writes import writes


def test_a_correction_refused_for_naming_another_students_result_creates_no_subject_key(
    client: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(client, container, tenant)
    # A year report's verbal assessment is sealed under a key of its own retention class,
    # which stu-1 has none of yet.
    year_report = {
        "title": "Lukuvuositodistus",
        "assignDate": "2026-02-01T08:00:00Z",
        "dueDate": "2026-02-14T16:00:00Z",
        "class": {"sourcedId": "cls-4a"},
        "category": {"sourcedId": "yearReport"},
    }
    client.put("/api/v1/lineItems/li-yr", json={"lineItem": year_report}, headers=school.teacher)
    first = client.post(
        "/api/v1/assessments",
        json=an_assessment(student="stu-2", sourcedId="res-1", lineItem="li-yr", comment=None),
        headers=school.teacher,
    )
    assert first.status_code == 201, first.text
    before = writes(container, [tenant])

    # A verbal comment about stu-1, sent as a correction of stu-2's result.
    refused = client.post(
        "/api/v1/assessments",
        json=an_assessment(
            student="stu-1", sourcedId="res-1", lineItem="li-yr", comment="Hyvää työtä."
        ),
        headers=school.teacher,
    )

    assert refused.status_code == 409, refused.text
    assert writes(container, [tenant]) == before
