"""Derived and disposable (DESIGN.md invariant 3): read models rebuilt from the beginning of
the topics equal the live ones, however the live ones interleaved their partitions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.commands import Actor
from projections import positions
from projections.base import Projection
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.runner import ProjectionRunner
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec
from streams.schemas import default_registry
from tests.builders import a_school, a_user, put
from tests.reads.conftest import read_projections
from tests.reads.school import (
    a_line_item,
    an_assessment_of,
    an_attainment_of,
    another_student,
    read_model_rows,
)


@pytest.fixture
def rebuilt(container: Container) -> Iterator[list[Projection]]:
    """The read projections again, under names of this test: built from nothing."""
    built: list[Projection] = [
        ClassDashboardProjection(name="cd" + uuid.uuid4().hex[:8], clock=container.clock),
        GuardianViewProjection(name="gv" + uuid.uuid4().hex[:8]),
    ]
    yield built
    with container.engine.begin() as connection:
        for projection in built:
            projection.metadata.drop_all(connection)
            for table in (
                positions.projection_positions,
                positions.projection_parked,
                positions.projection_versions,
            ):
                connection.execute(table.delete().where(table.c.projection == projection.name))


def test_read_models_rebuilt_from_the_beginning_equal_the_live_ones(
    running: TestClient,
    container: Container,
    tenant: str,
    broker: EmbeddedBroker,
    rebuilt: list[Projection],
) -> None:
    school = a_school(running, container, tenant)
    another_student(running, school, "stu-3", given="Sanni", family="Kolmas")
    put(running, school.admin, "demographics", "stu-1", "demographics", {"birthDate": "2016-05-04"})
    a_line_item(running, school, "li-1")
    a_line_item(running, school, "li-2", due="2026-03-20T16:00:00Z")
    for student, score in (("stu-1", 12), ("stu-2", 15), ("stu-3", 18)):
        an_assessment_of(
            running,
            school,
            sourcedId=f"res-{student}",
            student=student,
            lineItem="li-1",
            score=score,
            comment=f"Palaute {student}",
        )
    an_assessment_of(
        running,
        school,
        sourcedId="res-stu-1",
        student="stu-1",
        lineItem="li-1",
        score=16,
        comment="Korjattu",
    )
    an_assessment_of(running, school, student="stu-2", lineItem="li-2", score=11)
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 2, "2025-10-01")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    running.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["assessment"],
        },
    )
    put(
        running,
        school.admin,
        "users",
        "stu-1",
        "user",
        a_user("stu-1", "student", given="Aino", family="Virtanen"),
    )  # the guardian unlinked
    container.tenants.get(tenant).erase(
        Actor(tenant, "admin", "dpo"), subject="stu-3", reason="Huoltajan pyyntö", basis=None
    )
    head = container.tenants.get(tenant).head_position()
    for projection in read_projections(container):
        assert container.status.wait_for(tenant, projection.name, head, 20.0)

    settings = container.settings
    runner = ProjectionRunner(
        engine=container.engine,
        projections=rebuilt,
        codec=EventCodec(
            default_registry(), topic_prefix=settings.topic_prefix, partitions=settings.partitions
        ),
        bootstrap=broker.bootstrap,
        topic_prefix=settings.topic_prefix,
        tenant_ids=lambda: [tenant],
    )
    try:
        runner.run_once(timeout_seconds=30, silence_seconds=2.0)
    finally:
        runner.close()

    for live, fresh in zip(read_projections(container), rebuilt, strict=True):
        live_rows = read_model_rows(container, live, tenant)
        assert live_rows == read_model_rows(container, fresh, tenant), live.name
        assert live_rows["_results"] and live_rows["_users"]
