"""Erasure end to end: after it, the subject's personal data is nowhere to be read."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from api.runtime import Runtime
from api.settings import Settings
from domain.sealing import ERASED, SealedValue
from streams.codec import family_topic
from streams.event_types import FAMILIES
from streams.kafka_transport import read_topic
from tests.builders import a_school, an_assessment, put
from tests.integration.test_sealed_personal_data import _database_files, _files_containing


@pytest.fixture
def running(container: Container) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = container.runtime
    runtime.start()
    with TestClient(create_app(container)) as client:
        yield client, runtime
    runtime.stop()


def _wait(condition: Any, *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _unseal_all(container: Container, tenant: str) -> Iterator[Any]:
    """Replays the whole log, opening every sealed value (an auditor's replay)."""
    app = container.tenants.get(tenant)
    for notification in app.recorder.select_notifications(start=1, limit=100_000):
        event = app.mapper.to_domain_event(notification)
        for value in vars(event).values():
            if isinstance(value, SealedValue):
                yield app.sealer.unseal(value)


def test_an_erased_students_name_and_feedback_are_unreadable_in_every_store(
    running: tuple[TestClient, Runtime],
    container: Container,
    tenant: str,
    settings: Settings,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, runtime = running
    caplog.set_level(logging.DEBUG)
    marker = uuid.uuid4().hex[:8]
    given, family = f"Ainomaija{marker}", f"Zetterqvist{marker}"
    everyday = f"Hienoa työtä jakolaskussa {marker}"
    year_report = f"Vuoden arvio {marker}: edistynyt tasaisesti"
    school = a_school(client, container, tenant, student_name=(given, family))
    put(client, school.admin, "demographics", "stu-1", "demographics", {"birthDate": "2016-05-04"})
    assert (
        client.post(
            "/api/v1/assessments", headers=school.teacher, json=an_assessment(comment=everyday)
        ).status_code
        == 201
    )
    assert (
        client.put(
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
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/assessments",
            headers=school.teacher,
            json=an_assessment(lineItem="li-year", comment=year_report),
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/attainments",
            headers=school.teacher,
            json={
                "student": "stu-1",
                "class": "cls-4a",
                "objective": "MA.3-6.T5",
                "level": 3,
                "assessedAt": "2026-02-20",
            },
        ).status_code
        == 201
    )
    head = container.tenants.get(tenant).head_position()
    # A new tenant's topics are found by the runner's next refresh: wait for the projections.
    _wait(
        lambda: all(
            container.status.position(tenant, name) >= head
            for name in container.status.projection_names
        ),
        within=60,
        what="every projection to reach the school's events",
    )
    before = client.get(f"/api/v1/roster/users/stu-1?min_position={head}", headers=school.admin)
    assert before.json()["givenName"] == given  # it was readable, through every layer

    accepted = client.post(
        "/api/v1/erasures",
        headers=school.admin,
        json={"subject": "stu-1", "reason": "Huoltajan pyyntö"},
    )
    receipt = _wait(
        lambda: (
            (
                r := client.get(
                    f"/api/v1/erasures/{accepted.json()['erasureId']}", headers=school.admin
                ).json()
            )["allProjectionsConfirmedAt"]
            and r
        ),
        within=20,
        what="every projection to confirm the erasure",
    )

    needles = [s.encode() for s in (given, family, everyday, year_report)]
    read_back = client.get("/api/v1/roster/users/stu-1", headers=school.admin)
    assert read_back.json()["personal"] == "erased"
    assert not any(n.decode() in read_back.text + str(receipt) for n in needles)
    messages = [
        m
        for f in FAMILIES
        for m in read_topic(runtime.bootstrap, family_topic("digione", tenant, f), 1.0)
    ]
    assert messages and not any(n in (m.value or b"") for m in messages for n in needles)
    assert not any(n.decode() in caplog.text for n in needles)
    runtime.stop()
    files = _files_containing(_database_files(settings, container), needles)
    assert files == []
    opened = list(_unseal_all(container, tenant))
    assert {"givenName": given, "familyName": family} not in opened and ERASED in opened
    assert {"comment": year_report} in opened  # kept: a year report, until 2034-12-31
    assert {"comment": everyday} not in opened

    until = date.fromisoformat(receipt["kept"][0]["until"])
    clock.advance(days=(until - clock().date()).days)
    assert container.tenants.get(tenant).run_retention() == [("stu-1", "compulsory")]
    assert {"comment": year_report} not in list(_unseal_all(container, tenant))
