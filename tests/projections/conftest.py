"""Fixtures of the projection tests: a shared broker, runners built like the real one, clean-up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.bootstrap import Container
from domain.application import TenantApplication
from projections import positions
from projections.base import Projection
from projections.roster import RosterProjection
from projections.runner import ProjectionRunner
from projections.status import ProjectionStatus
from streams import positions as relay_positions
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec
from streams.schemas import default_registry
from tests.projections.publishing import StorePublisher


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One broker for the session; tests keep apart by their tenants' topics."""
    started = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    started.start()
    yield started
    started.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test alone (to lose its data by replacing it)."""
    # Stopped by SIGKILL soon after SIGTERM: losing its data is what it is there for.
    started = EmbeddedBroker(tmp_path / "own-broker", stop_grace_seconds=0.2)
    started.start()
    yield started
    started.stop()


@pytest.fixture
def roster(container: Container) -> Iterator[RosterProjection]:
    """The roster projection under a name (and tables) of this test alone: runs sharing the
    PostgreSQL database may rebuild theirs meanwhile. Dropped afterwards."""
    projection = RosterProjection(name="r" + uuid.uuid4().hex[:10])
    yield projection
    with container.engine.begin() as connection:
        projection.metadata.drop_all(connection)
        for table in (
            positions.projection_positions,
            positions.projection_parked,
            positions.projection_versions,
        ):
            if sa.inspect(connection).has_table(table.name):
                connection.execute(table.delete().where(table.c.projection == projection.name))


@pytest.fixture
def publisher(
    app: TenantApplication, container: Container, broker: EmbeddedBroker
) -> Iterator[StorePublisher]:
    built = StorePublisher(app=app, engine=container.engine, bootstrap=broker.bootstrap)
    yield built
    built.close()


RunnerFactory = Callable[..., ProjectionRunner]


@pytest.fixture
def runner_for(
    container: Container, broker: EmbeddedBroker, tenant: str, forget_tenant_rows: None
) -> Iterator[RunnerFactory]:
    """Builds runners of the test's tenant (the composition the server will use)."""
    built: list[ProjectionRunner] = []

    def build(
        *projections: Projection, bootstrap: str | None = None, **options: Any
    ) -> ProjectionRunner:
        runner = ProjectionRunner(
            engine=container.engine,
            projections=list(projections),
            codec=EventCodec(default_registry(), topic_prefix="digione", partitions=1),
            bootstrap=bootstrap or broker.bootstrap,
            topic_prefix="digione",
            # Only the test's tenant: other runs may share the PostgreSQL database.
            tenant_ids=lambda: [tenant],
            **{"fetch_wait_ms": 50, "poll_seconds": 0.2, "refresh_seconds": 0.5, **options},
        )
        built.append(runner)
        return runner

    yield build
    for runner in built:
        runner.stop()


@pytest.fixture
def status(
    container: Container, tenant: str, roster: RosterProjection, forget_tenant_rows: None
) -> ProjectionStatus:
    return ProjectionStatus(
        engine=container.engine,
        projections=[roster],
        topic_prefix="digione",
        tenant_ids=lambda: [tenant],
        head_position=lambda t: container.tenants.get(t).head_position(),
    )


@pytest.fixture
def forget_tenant_rows(container: Container, tenant: str) -> Iterator[None]:
    """Removes the test tenant's relay rows afterwards (runs share PostgreSQL)."""
    yield
    tables = [relay_positions.relay_positions, relay_positions.relay_partition_positions]
    with container.engine.begin() as connection:
        present = set(sa.inspect(connection).get_table_names())
        for table in tables:
            if table.name in present:
                connection.execute(table.delete().where(table.c.tenant == tenant))
