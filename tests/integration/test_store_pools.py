"""How many connections each tenant's event store keeps open is the installation's choice."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.bootstrap import bootstrap
from api.burst_pool import BurstPool
from api.settings import Settings
from tests.tenant_cleanup import drop_tenants


def _kept_open(settings: Settings) -> int:
    """The connections a tenant's store keeps open (more are opened for a burst)."""
    container = bootstrap(settings)
    tenant = "t" + uuid.uuid4().hex[:10] + "p"
    try:
        container.tenants.create(tenant, name="Test municipality")
        pool = container.tenants.get(tenant).recorder.datastore.pool  # type: ignore[attr-defined]
        kept: int = pool.min_size
        return kept
    finally:
        container.close()
        drop_tenants(settings, [tenant])


@pytest.mark.postgres
def test_store_pool_size_is_how_many_connections_each_tenant_store_keeps_open(
    postgres_database_url: str, tmp_path: Path
) -> None:
    default = Settings.explicit(database_url=postgres_database_url, data_dir=tmp_path / "a")
    small = Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path / "b", store_pool_size=1
    )

    assert (_kept_open(default), _kept_open(small)) == (2, 1)


@pytest.mark.postgres
def test_both_database_pools_keep_a_burst_for_the_idle_time_set(
    postgres_database_url: str, tmp_path: Path
) -> None:
    settings = Settings.explicit(
        database_url=postgres_database_url,
        data_dir=tmp_path / "c",
        database_pool_size=1,
        database_max_overflow=2,
        database_burst_idle_seconds=5,
    )
    container = bootstrap(settings)
    try:
        for engine in (container.engine, container.read_engine):
            pool = engine.pool
            assert isinstance(pool, BurstPool)
            assert pool.idle_seconds == 5
            held = [engine.connect() for _ in range(3)]
            for connection in held:
                connection.close()
            # The two beyond the one kept stay open, unused, for the next burst.
            assert pool.resting() == 2
    finally:
        container.close()


@pytest.mark.postgres
def test_serves_database_sessions_never_compile_a_query_just_in_time(
    postgres_database_url: str, tmp_path: Path
) -> None:
    # A city's OneRoster results page spent 180–240 ms compiling each of its two queries.
    container = bootstrap(Settings.explicit(database_url=postgres_database_url, data_dir=tmp_path))

    def jit(engine: sa.Engine) -> object:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SHOW jit").scalar()

    try:
        pools = {
            "commands": jit(container.engine),
            "reads": jit(container.read_engine),
            "relay and runner": jit(container.pipeline_engine),
        }
    finally:
        container.close()

    assert pools == {"commands": "off", "reads": "off", "relay and runner": "off"}
