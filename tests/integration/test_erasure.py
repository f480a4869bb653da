"""Erasure by crypto-shredding: working data goes at once, kept classes at their expiry."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.assessment import Result
from domain.commands import Actor
from domain.errors import NotPermittedError
from domain.ids import aggregate_id
from domain.sealing import ERASED, RetentionClass
from tests.builders import a_school, an_assessment, put


def _year_report(client: TestClient, school: Any) -> str:
    response = client.put(
        "/api/v1/lineItems/li-year",
        headers=school.teacher,
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
    assert response.status_code == 201
    answer = client.post(
        "/api/v1/assessments",
        headers=school.teacher,
        json=an_assessment(
            sourcedId="res-year", lineItem="li-year", comment="Vuositodistuksen sanallinen arvio"
        ),
    )
    assert answer.status_code == 201
    return "res-year"


def _comment(app: TenantApplication, tenant: str, result_id: str) -> Any:
    result: object = app.repository.get(aggregate_id(tenant, "results", result_id))
    assert isinstance(result, Result) and result.comment is not None
    return app.sealer.unseal(result.comment)


@pytest.fixture
def school(client: TestClient, container: Container, tenant: str) -> Any:
    school = a_school(client, container, tenant)
    put(client, school.admin, "demographics", "stu-1", "demographics", {"birthDate": "2016-05-04"})
    client.post(
        "/api/v1/assessments",
        headers=school.teacher,
        json=an_assessment(sourcedId="res-work", comment="Arkipäivän palaute"),
    )
    _year_report(client, school)
    return school


def test_erasure_shreds_working_data_at_once_and_keeps_the_year_report_until_its_expiry(
    app: TenantApplication, tenant: str, school: Any
) -> None:
    admin = Actor(tenant, "admin", "dpo")

    outcome = app.erase(admin, subject="stu-1", reason="Huoltajan pyyntö", basis=None)

    assert app.personal_details("stu-1") is ERASED
    assert _comment(app, tenant, "res-work") is ERASED
    assert _comment(app, tenant, "res-year") == {"comment": "Vuositodistuksen sanallinen arvio"}
    assert app.personal_details("stu-2") is not ERASED
    erasure = app.erasure(outcome.id)
    assert set(erasure.shredded) == {"working"}
    assert erasure.kept["compulsory"]["until"] == date(2034, 12, 31)  # the year stu-1 turns 18
    assert app.erasure_reason(erasure) == "Huoltajan pyyntö"
    result: object = app.repository.get(aggregate_id(tenant, "results", "res-work"))
    assert isinstance(result, Result) and result.grade == "9"  # the pseudonymous fact stays


def test_kept_data_is_shredded_when_its_retention_ends_and_not_before(
    app: TenantApplication, tenant: str, school: Any, clock: Any
) -> None:
    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-1", reason="pyyntö", basis=None)

    before = app.run_retention()
    clock.advance(days=(date(2034, 12, 31) - clock().date()).days)
    app.sealer.forget_cached_key(
        aggregate_id(tenant, "users", "stu-1"), RetentionClass.COMPULSORY_SCHOOLING
    )
    at_expiry = app.run_retention()

    assert before == []
    assert at_expiry == [("stu-1", "compulsory")]
    assert _comment(app, tenant, "res-year") is ERASED
    erasure = app.erasure(str(aggregate_id(tenant, "erasures", "stu-1")))
    assert erasure.kept == {} and set(erasure.shredded) == {"working", "compulsory"}


def test_erasing_twice_is_harmless(app: TenantApplication, tenant: str, school: Any) -> None:
    admin = Actor(tenant, "admin", "dpo")
    first = app.erase(admin, subject="stu-1", reason="pyyntö", basis=None)

    second = app.erase(admin, subject="stu-1", reason="pyyntö uudelleen", basis=None)

    assert second.id == first.id
    assert app.personal_details("stu-1") is ERASED
    assert _comment(app, tenant, "res-year") == {"comment": "Vuositodistuksen sanallinen arvio"}


def test_only_an_admin_erases(app: TenantApplication, tenant: str, school: Any) -> None:
    with pytest.raises(NotPermittedError):
        app.erase(Actor(tenant, "teacher", "tch-1"), subject="stu-1", reason="x", basis=None)


def test_a_restored_key_store_backup_does_not_resurrect_an_erased_key(
    container: Container, app: TenantApplication, tenant: str, school: Any
) -> None:
    subject = aggregate_id(tenant, "users", "stu-1")
    backup = app.tables.load_subject_key(subject, RetentionClass.WORKING)
    assert backup is not None
    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-1", reason="pyyntö", basis=None)

    # The backup of the key table, and of its erasure list, is restored over the live one.
    with app.factory.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        table = app.tables._keys
        cursor.execute(f"DELETE FROM {app.tables._shredded}")
        marks = "%s, %s, %s, %s" if app.tables._postgres else "?, ?, ?, ?"
        cursor.execute(
            f"INSERT INTO {table} (subject, retention, wrapped, created_at) VALUES ({marks})",
            (str(subject), "working", backup, "2026-01-01"),
        )
    container.tenants.close()  # a restart: the store is opened again
    reopened = container.tenants.get(tenant)

    assert reopened.personal_details("stu-1") is ERASED
    assert reopened.tables.load_subject_key(subject, RetentionClass.WORKING) is None


def test_a_shredded_tenant_reads_as_erased_and_keeps_its_pseudonymous_facts(
    container: Container, app: TenantApplication, tenant: str, school: Any
) -> None:
    app.shred_tenant(requested_by="operator")
    container.tenants.close()
    reopened = container.tenants.get(tenant)

    assert reopened.personal_details("stu-1") is ERASED
    assert reopened.personal_details("tch-1") is ERASED
    assert _comment(reopened, tenant, "res-year") is ERASED
    result: object = reopened.repository.get(aggregate_id(tenant, "results", "res-year"))
    assert isinstance(result, Result) and result.grade == "9" and result.student == "stu-1"


def test_the_erasure_receipt_says_what_was_shredded_and_what_is_kept_until_when_and_why(
    client: TestClient, container: Container, tenant: str, school: Any
) -> None:
    accepted = client.post(
        "/api/v1/erasures",
        headers=school.admin,
        json={"subject": "stu-1", "reason": "Huoltajan pyyntö"},
    )

    receipt = client.get(f"/api/v1/erasures/{accepted.json()['erasureId']}", headers=school.admin)

    assert accepted.status_code == 202
    body = receipt.json()
    assert [s["retentionClass"] for s in body["shredded"]] == ["working"]
    assert body["kept"] == [
        {
            "retentionClass": "compulsory",
            "until": "2034-12-31",
            "permanent": False,
            "ground": body["kept"][0]["ground"],
        }
    ]
    assert "17(3)(b)" in body["kept"][0]["ground"]
    assert body["reason"] == "Huoltajan pyyntö"


def test_a_teacher_cannot_request_an_erasure(
    client: TestClient, container: Container, tenant: str, school: Any
) -> None:
    response = client.post(
        "/api/v1/erasures", headers=school.teacher, json={"subject": "stu-1", "reason": "x"}
    )

    assert response.status_code == 403
