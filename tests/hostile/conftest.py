"""Fixtures of the hostile-input tests: the whole app with its runtime, over a small school."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from projections.reads.disclosures import disclosures
from tests.builders import a_school, bearer


@dataclass(frozen=True)
class Writes:
    """What a request may have written, counted: every tenant's store head and side-table
    rows (subject keys, erasure list, idempotency answers, result slots, the tenant key),
    and the disclosure rows and the requests they count."""

    heads: dict[str, int]
    tables: dict[str, dict[str, int]]
    disclosure_rows: int
    disclosed_requests: int


def writes(container: Container, tenants: list[str]) -> Writes:
    heads, tables = {}, {}
    for tenant in tenants:
        app = container.tenants.get(tenant)
        heads[tenant] = app.head_position()
        tables[tenant] = app.tables.row_counts()
    with container.engine.connect() as connection:
        rows, requests = connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(disclosures.c.count), 0))
        ).one()
    return Writes(heads, tables, int(rows), int(requests))


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
