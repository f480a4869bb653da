"""Retries with an Idempotency-Key record nothing new; concurrent writers get a conflict."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import Actor, PutOrg
from domain.errors import ConcurrentUpdateError
from domain.ids import aggregate_id
from domain.roster import Org
from tests.builders import a_school, an_assessment


def test_a_retried_command_with_the_same_key_returns_the_first_answer_and_records_nothing(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    headers = {**school.teacher, "Idempotency-Key": "retry-1"}
    first = client.post("/api/v1/assessments", json=an_assessment(), headers=headers)
    head = app.head_position()

    again = client.post("/api/v1/assessments", json=an_assessment(), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert app.head_position() == head


def test_a_key_reused_for_a_different_request_is_refused(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    headers = {**school.teacher, "Idempotency-Key": "retry-2"}
    client.post("/api/v1/assessments", json=an_assessment(), headers=headers)
    head = app.head_position()

    other = client.post("/api/v1/assessments", json=an_assessment(grade="5"), headers=headers)

    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"
    assert app.head_position() == head


def test_concurrent_retries_with_one_key_record_one_assessment(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    headers = {**school.teacher, "Idempotency-Key": "burst"}
    head = app.head_position()
    answers: list[int] = []

    def send() -> None:
        answers.append(
            client.post("/api/v1/assessments", json=an_assessment(), headers=headers).status_code
        )

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [201] * 6
    assert app.head_position() == head + 1


def test_two_writers_of_one_aggregate_get_a_conflict_not_a_lost_update(
    container: Container, tenant: str, app: TenantApplication, settings: object
) -> None:
    admin = Actor(tenant, "admin", "a")
    app.put_org(admin, PutOrg("sch-1", "active", "Koulu", "school", "01", None))
    # A second application on the same store: another API replica, with its own cache.
    container.tenants._apps.pop(tenant)
    replica = container.tenants.get(tenant)
    org_id = aggregate_id(tenant, "orgs", "sch-1")
    mine: object = app.repository.get(org_id)
    theirs: object = replica.repository.get(org_id)
    assert isinstance(mine, Org) and isinstance(theirs, Org)
    theirs.revise(name="Their name", org_type="school", identifier="01", parent=None)
    replica._save(theirs)

    mine.revise(name="My name", org_type="school", identifier="01", parent=None)

    with pytest.raises(ConcurrentUpdateError):
        app._save(mine)
    assert replica.repository.get(org_id).name == "Their name"
    replica.close()
