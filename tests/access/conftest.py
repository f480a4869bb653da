"""Fixtures of the right-of-access tests: the running system, and a school to export from."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.bootstrap import Container
from tests.builders import School, a_school, put


@pytest.fixture
def running(container: Container) -> Iterator[TestClient]:
    """The API over the real runtime: embedded broker, relay and projection runner."""
    runtime = container.runtime
    runtime.start()
    with TestClient(create_app(container)) as client:
        yield client
    runtime.stop()


@dataclass
class Pupil:
    """The school of `a_school`, with stu-1's names, birth date and verbal assessment."""

    school: School
    given: str
    family: str
    comment: str


@pytest.fixture
def pupil(running: TestClient, container: Container, tenant: str) -> Pupil:
    """stu-1 (born 2016-05-04, so 9 on the test clock), child of grd-1, assessed by tch-1."""
    given, family, comment = "Ainomaija", "Zetterqvist", "Hienoa työtä jakolaskussa."
    school = a_school(running, container, tenant, student_name=(given, family))
    born(running, school, "stu-1", "2016-05-04")
    # A new tenant's topics are found by the runner's next refresh: start every test from a
    # projected school, so a read's own wait measures freshness, not the runner's start.
    at = head(container, tenant)
    wait_for(
        lambda: all(
            container.status.position(tenant, name) >= at
            for name in container.status.projection_names
        ),
        within=60,
        what="every projection to reach the school's events",
    )
    return Pupil(school, given, family, comment)


def born(client: TestClient, school: School, student: str, birth_date: str) -> None:
    put(client, school.admin, "demographics", student, "demographics", {"birthDate": birth_date})


def head(container: Container, tenant: str) -> int:
    return container.tenants.get(tenant).head_position()


def export(
    client: TestClient,
    headers: dict[str, str],
    subject: str,
    *,
    at_least: int = 0,
    within: float = 30.0,
) -> Response:
    """The subject's export, once the index includes store position `at_least`.

    A new tenant's topics are found by the runner's next refresh, so the first read may
    answer 504 (not fresh yet): it is asked again until `within` has passed.
    """
    deadline = time.monotonic() + within
    while True:
        response: Response = client.get(
            f"/api/v1/subjects/{subject}/export?min_position={at_least}", headers=headers
        )
        if response.status_code != 504 or time.monotonic() >= deadline:
            return response


def wait_for(condition: Any, *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
