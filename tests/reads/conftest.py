"""Fixtures of the read tests: the real runtime (broker, relay, projection runner) per test.

One embedded broker serves the session; each test gets topics of its own (a topic prefix of
its own), and a relay and a runner composed as api/runtime.py composes them, but narrowed
to the test's tenants. On PostgreSQL the session has a database of its own on the test
server: a runtime of another test run relays every tenant it finds in its database, and
would otherwise publish these tests' tenants to its own broker and move their relay
positions under them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from api.bootstrap import Container
from api.settings import Settings
from api.tenants import Tenants
from domain.application import TenantApplication
from projections import positions
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.runner import ProjectionRunner
from streams import positions as relay_positions
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec
from streams.kafka_transport import KafkaPythonTransport
from streams.relay import Relay
from streams.schemas import default_registry
from tests.conftest import postgres_url


def read_projections(
    container: Container,
) -> list[ClassDashboardProjection | GuardianViewProjection]:
    """The projections under test: the instances the API reads."""
    return [container.projections.class_dashboard, container.projections.guardian_view]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    started = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def private_postgres_url() -> Iterator[str]:
    """A database of this session alone on the test server, dropped at the end."""
    server = make_url(postgres_url())
    name = f"{server.database}_reads_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(
    backend: str, tmp_path: Path, broker: EmbeddedBroker, request: pytest.FixtureRequest
) -> Settings:
    database_url = None
    if backend == "postgres":
        database_url = str(request.getfixturevalue("private_postgres_url"))
    return Settings.explicit(
        database_url=database_url,
        data_dir=tmp_path / "var",
        kafka_bootstrap=broker.bootstrap,
        topic_prefix="rd" + uuid.uuid4().hex[:10],
    )


class OnlyTestTenants:
    """The tenant registry narrowed to the tenants this test created: those whose id starts
    with `prefix` (a runtime shared by a module's tests moves it on to each test's own)."""

    def __init__(self, tenants: Tenants, prefix: str) -> None:
        self._tenants = tenants
        self.prefix = prefix

    def ids(self) -> list[str]:
        return [t for t in self._tenants.ids() if t.startswith(self.prefix)]

    def get(self, tenant: str) -> TenantApplication:
        return self._tenants.get(tenant)


@pytest.fixture
def running(
    container: Container, tenant: str, tenant_prefix: str, broker: EmbeddedBroker
) -> Iterator[TestClient]:
    """The HTTP app with the relay and the read projections running behind it."""
    tenants = OnlyTestTenants(container.tenants, tenant_prefix)
    with read_runtime(container, tenants, broker) as runtime:
        yield runtime.client
    _forget(container, tenants.ids())


@dataclass
class ReadRuntime:
    client: TestClient
    relay: Relay


@contextmanager
def read_runtime(
    container: Container, tenants: OnlyTestTenants, broker: EmbeddedBroker
) -> Iterator[ReadRuntime]:
    """The relay and the read projections over `tenants`, and the HTTP app before them."""
    settings = container.settings
    relay = Relay(
        tenants=tenants,
        engine=container.engine,
        codec=EventCodec(
            default_registry(), topic_prefix=settings.topic_prefix, partitions=settings.partitions
        ),
        transport_factory=lambda: KafkaPythonTransport(
            broker.bootstrap, delivery_timeout_seconds=10.0, request_timeout_seconds=5.0
        ),
        bootstrap=broker.bootstrap,
        topic_prefix=settings.topic_prefix,
        partitions=settings.partitions,
        idle_poll_seconds=0.2,
    )
    runner = ProjectionRunner(
        engine=container.engine,
        projections=read_projections(container),
        codec=EventCodec(
            default_registry(), topic_prefix=settings.topic_prefix, partitions=settings.partitions
        ),
        bootstrap=broker.bootstrap,
        topic_prefix=settings.topic_prefix,
        tenant_ids=tenants.ids,
        poll_seconds=0.1,
        refresh_seconds=0.2,
        fetch_wait_ms=50,
    )
    container.tenants.add_save_listener(lambda _position: relay.wake())
    relay.start()
    runner.start()
    try:
        with TestClient(create_app(container)) as client:
            yield ReadRuntime(client, relay)
    finally:
        runner.stop()
        relay.stop()


def _forget(container: Container, tenants: list[str]) -> None:
    """Removes the test's rows from the shared tables (runs share the PostgreSQL database)."""
    tables = [table for p in read_projections(container) for table in p.metadata.sorted_tables]
    tables += [
        positions.projection_positions,
        positions.projection_parked,
        relay_positions.relay_positions,
        relay_positions.relay_partition_positions,
    ]
    with container.engine.begin() as connection:
        present = set(sa.inspect(connection).get_table_names())
        for table in tables:
            if table.name in present and "tenant" in table.c:
                connection.execute(table.delete().where(table.c.tenant.in_(tenants)))
