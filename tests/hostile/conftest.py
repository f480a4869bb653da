"""Fixtures of the hostile-input tests: the whole app with its runtime, over a small school."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from tests.builders import a_school, bearer


@dataclass(frozen=True)
class Caller:
    """A caller's headers, and a store position its read models reached (for min_position)."""

    headers: dict[str, str]
    reached: int


@dataclass(frozen=True)
class HostileSchool:
    """A school in one tenant, a second tenant beside it, and a token of each kind of caller."""

    tenant: str
    other_tenant: str
    callers: dict[str, Caller]


@pytest.fixture
def running(container: Container) -> Iterator[TestClient]:
    container.runtime.start()
    try:
        with TestClient(create_app(container)) as client:
            yield client
    finally:
        container.runtime.stop()


@pytest.fixture
def hostile_school(
    running: TestClient, container: Container, tenant: str, tenant_prefix: str
) -> HostileSchool:
    school = a_school(running, container, tenant)
    other = tenant_prefix + "b"
    container.tenants.create(other, name="Another municipality")
    head = container.tenants.get(tenant).head_position()
    return HostileSchool(
        tenant=tenant,
        other_tenant=other,
        callers={
            "admin": Caller(school.admin, head),
            "teacher": Caller(school.teacher, head),
            "guardian": Caller(school.guardian, head),
            "student": Caller(bearer(container, tenant, "student", "stu-1"), head),
            "service": Caller(
                bearer(container, tenant, "service", "primus-sis", "roster.createput"), head
            ),
            "other tenant's admin": Caller(bearer(container, other, "admin", "admin-9"), 0),
            "nobody": Caller({}, 0),
        },
    )
