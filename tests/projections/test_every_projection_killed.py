"""Every projection's worker killed with SIGKILL mid-stream resumes to exactly what a rebuild
from scratch makes (the roster's own case, with its expected model, is in
test_runner_faults.py)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from projections import positions
from projections.base import Projection, reset
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.status import ProjectionStatus
from projections.subject_index import SubjectIndexProjection
from streams.broker import EmbeddedBroker
from tests.builders import School, a_school
from tests.projections.conftest import RunnerFactory
from tests.projections.publishing import StorePublisher
from tests.projections.roster_changes import a_crowd
from tests.projections.runner_checks import start_runner_process, wait_until
from tests.reads.school import a_line_item, an_assessment_of, an_attainment_of, another_student

KINDS: dict[str, type[Any]] = {
    "class_dashboard": ClassDashboardProjection,
    "guardian_view": GuardianViewProjection,
    "subject_index": SubjectIndexProjection,
}
STUDENTS = 8


def rows_of(engine: Engine, projection: Projection, tenant: str) -> dict[str, list[str]]:
    """Every row of the tenant in every table of the projection, in a comparable form."""
    metadata: sa.MetaData = projection.metadata
    model: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            query = sa.select(table)
            if "tenant" in table.c:
                query = query.where(table.c.tenant == tenant)
            model[table.name.removeprefix(projection.name)] = sorted(
                repr(sorted(row._mapping.items())) for row in connection.execute(query)
            )
    return model


@pytest.fixture
def projection(request: pytest.FixtureRequest, container: Container) -> Iterator[Projection]:
    """The projection of the test's kind under a name (and tables) of this test alone."""
    built: Projection = KINDS[request.param]("k" + uuid.uuid4().hex[:10])
    yield built
    with container.engine.begin() as connection:
        built.metadata.drop_all(connection)
        for table in (
            positions.projection_positions,
            positions.projection_parked,
            positions.projection_versions,
        ):
            if sa.inspect(connection).has_table(table.name):
                connection.execute(table.delete().where(table.c.projection == built.name))


def a_graded_class(client: TestClient, container: Container, tenant: str) -> School:
    """A school whose class has students, a line item, a result and an attainment each."""
    school = a_school(client, container, tenant)
    a_line_item(client, school, "li-1")
    for i in range(STUDENTS):
        student = f"stu-k{i}"
        another_student(client, school, student, given=f"Oppilas{i}", family="Kokeilu")
        an_assessment_of(client, school, student=student, lineItem="li-1", score=10 + i)
        an_attainment_of(client, school, student, "MA.3-6.T5", 1 + i % 4, "2026-02-21", "li-1")
    return school


# PostgreSQL only (the production store; the SQLite case of the same runner is the roster's
# in test_runner_faults.py): each run spawns a worker process, and the suite has a budget.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("projection", sorted(KINDS), indirect=True)
def test_a_projection_worker_killed_mid_stream_resumes_to_what_a_rebuild_makes(
    client: TestClient,
    container: Container,
    settings: Settings,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    runner_for: RunnerFactory,
    projection: Projection,
) -> None:
    a_graded_class(client, container, tenant)
    a_crowd(app, count=40)
    head = publisher.publish()
    status = ProjectionStatus(
        engine=container.engine,
        projections=[projection],
        topic_prefix="digione",
        tenant_ids=lambda: [tenant],
        head_position=lambda t: container.tenants.get(t).head_position(),
    )
    kind: type[Any] = type(projection)
    # One message per transaction, so the kill lands between (or inside) many of them.
    killed = start_runner_process(
        settings,
        broker,
        tenant,
        projection.name,
        max_batch=1,
        kind=next(k for k, c in KINDS.items() if c is kind),
    )
    try:
        wait_until(lambda: status.position(tenant, projection.name) > 0)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    killed_at = status.position(tenant, projection.name)

    runner_for(kind(projection.name)).run_once()
    resumed = rows_of(container.engine, projection, tenant)
    reset(container.engine, projection)
    runner_for(kind(projection.name)).run_once()
    rebuilt = rows_of(container.engine, projection, tenant)

    assert 0 < killed_at < head, "the kill should land mid-stream"
    assert status.position(tenant, projection.name) == head
    assert any(rebuilt.values()), "the rebuilt read model holds nothing to compare"
    assert resumed == rebuilt
