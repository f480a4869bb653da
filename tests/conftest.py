"""Shared fixtures: a system built per test on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from api.bootstrap import Container, bootstrap
from api.settings import Settings
from domain.application import TenantApplication
from tests.module_order import heaviest_modules_first
from tests.processes import SMALL_POOL_SETTINGS
from tests.tenant_cleanup import drop_tenants

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/digione_test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    heaviest_modules_first(items)


def postgres_url() -> str:
    return os.environ.get("DIGIONE_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Ticking:
    """A monotonic clock (seconds) the test moves by hand, for what times with
    time.monotonic: `clock.now += 61`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def database_of_its_own(prefix: str) -> Iterator[str]:
    """A new database on the test server (its name `prefix` and a suffix of its own), its
    URL; dropped after, its sessions ended: several runs (a developer's, CI's) may share
    the server, and a relay or a registry must never see another run's tenants."""
    server = make_url(postgres_url())
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A database of this test session alone, dropped at the end."""
    with database_of_its_own(str(make_url(postgres_url()).database)) as url:
        yield url


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    database_url = None
    if backend == "postgres":
        database_url = str(request.getfixturevalue("postgres_database_url"))
    # Small pools (with room to grow under a burst): four test workers and the servers
    # their tests start share PostgreSQL's 100 connections.
    return Settings.explicit(
        database_url=database_url, data_dir=tmp_path / "var", **SMALL_POOL_SETTINGS
    )


@pytest.fixture
def tenant_prefix() -> str:
    """Every tenant a test creates starts with this, so its clean-up drops only its own
    (several test runs may share the PostgreSQL database at once)."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def container(settings: Settings, clock: FakeClock, tenant_prefix: str) -> Iterator[Container]:
    built = bootstrap(settings, clock=clock)
    yield built
    tenants = [t for t in built.tenants.ids() if t.startswith(tenant_prefix)]
    built.close()
    if settings.is_postgres:
        drop_tenants(settings, tenants)


@pytest.fixture
def tenant(container: Container, tenant_prefix: str) -> str:
    """A fresh tenant per test, so tests share the PostgreSQL database but not data."""
    tenant_id = tenant_prefix + "a"
    container.tenants.create(tenant_id, name="Test municipality")
    return tenant_id


@pytest.fixture
def app(container: Container, tenant: str) -> TenantApplication:
    return container.tenants.get(tenant)


@pytest.fixture
def other_process(settings: Settings, clock: FakeClock, tenant: str) -> Iterator[TenantApplication]:
    """The test's tenant opened by a second system on the same store (another `digione
    serve`, or an import run beside it): its own pools, recorder and kept copies."""
    other = bootstrap(settings, clock=clock)
    yield other.tenants.get(tenant)
    other.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=True) as test_client:
        yield test_client
