"""serve's processes together stay within the connections PostgreSQL lets its clients have:
past them, requests failed 503 under load ("too many clients already")."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from api import cli
from api.bootstrap import Container, bootstrap
from api.connection_budget import LISTENING_CONNECTIONS, default_budget
from api.settings import Settings
from tests.conftest import database_of_its_own
from tests.processes import digione
from tests.tenant_cleanup import drop_tenants


def _pool_most(engine: sa.Engine) -> int:
    pool = engine.pool
    assert isinstance(pool, sa.QueuePool)
    return pool.size() + pool._max_overflow


def _most_connections(container: Container, *tenants: str) -> int:
    """The most connections the process of `container` opens at once, serving `tenants`
    (its relay's and runner's pool too, which an HTTP process uses for /healthz alone):
    each store's kept ones, and one store's burst."""
    stores = [
        container.tenants.get(t).recorder.datastore.pool  # type: ignore[attr-defined]
        for t in tenants
    ]
    return (
        _pool_most(container.engine)
        + _pool_most(container.read_engine)
        + _pool_most(container.pipeline_engine)
        + sum(int(store.min_size) for store in stores)
        + max(int(store.max_size - store.min_size) for store in stores)
        + LISTENING_CONNECTIONS
    )


def _number(url: str, query: str) -> int:
    """The one number `query` answers in the database of `url`."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return int(row[0])


#: What PostgreSQL lets its clients that are not superusers have.
CLIENT_LIMIT = (
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
)
#: How many connections it has open to the database asked, besides the asking one.
CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.mark.postgres
def test_two_http_processes_the_worker_and_serve_at_their_fullest_fit_the_server(
    postgres_database_url: str, tmp_path: Path
) -> None:
    tenant = "t" + uuid.uuid4().hex[:10] + "b"
    settings = Settings.explicit(
        database_url=postgres_database_url,
        data_dir=tmp_path / "var",
        http_workers=2,
        only_tenants=frozenset({tenant}),
    )
    http = bootstrap(settings, role="http")
    quiet = bootstrap(settings, role="background")
    try:
        http.tenants.create(tenant, name="Budget municipality")
        # Two HTTP processes, the worker process, and serve's own beside uvicorn's workers.
        most = 2 * _most_connections(http, tenant) + 2 * _most_connections(quiet, tenant)
    finally:
        http.close()
        quiet.close()
        drop_tenants(settings, [tenant])

    limit = _number(postgres_database_url, CLIENT_LIMIT)
    assert most <= default_budget(limit) < limit


@pytest.fixture
def own_database(postgres_database_url: str) -> Iterator[str]:
    """A database of the test's own: the session's holds other tests' tenants."""
    with database_of_its_own(str(sa.make_url(postgres_database_url).database)) as url:
        yield url


@pytest.mark.postgres
def test_serve_counts_every_registered_tenants_store_and_still_fits_the_server(
    own_database: str, tmp_path: Path
) -> None:
    settings = Settings.explicit(database_url=own_database, data_dir=tmp_path / "var")
    cities = [f"city{n}" for n in range(5)]
    setup = bootstrap(settings)
    for city in cities:
        setup.tenants.create(city, name=f"City {city}")
    setup.close()

    command = bootstrap(settings)
    http = bootstrap(settings, role="http")
    quiet = bootstrap(settings, role="background")
    try:
        # One HTTP process beside the worker process, each holding every city's store.
        most = _most_connections(http, *cities) + _most_connections(quiet, *cities)
        pools = (_pool_most(command.read_engine), _pool_most(http.read_engine))
    finally:
        for container in (command, http, quiet):
            container.close()

    limit = _number(own_database, CLIENT_LIMIT)
    assert most <= default_budget(limit)
    # A command beside serve counts one tenant's store; serve's processes count all five.
    assert pools[1] < pools[0]


@pytest.mark.postgres
def test_a_budget_set_for_serve_sizes_the_request_pools(
    postgres_database_url: str, tmp_path: Path
) -> None:
    roomy = Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path / "a", database_connections=1000
    )
    tight = Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path / "b", database_connections=50
    )
    sizes = []
    for settings in (roomy, tight):
        container = bootstrap(settings)
        try:
            sizes.append((_pool_most(container.engine), _pool_most(container.read_engine)))
        finally:
            container.close()

    # As configured (10 kept, 30 more) where there is room; within 50 for serve otherwise.
    assert sizes == [(40, 40), (6, 6)]


@pytest.mark.postgres
def test_serve_whose_processes_cannot_fit_refuses_to_start_saying_what_to_change(
    postgres_database_url: str, tmp_path: Path
) -> None:
    settings = Settings.explicit(database_url=postgres_database_url, data_dir=tmp_path / "var")

    # What serve may open of a default server's connections (max_connections 100).
    answer = digione(
        settings,
        "serve",
        variables={"DIGIONE_HTTP_WORKERS": "8", "DIGIONE_DATABASE_CONNECTIONS": "87"},
    )

    assert answer.returncode == 2
    assert "8 HTTP" in answer.stderr and "DIGIONE_HTTP_WORKERS" in answer.stderr
    assert "max_connections" in answer.stderr
    assert "Traceback" not in answer.stderr
    assert not (tmp_path / "var").exists(), "a refused serve started nothing"


@pytest.mark.postgres
def test_serve_says_at_start_how_many_connections_its_processes_may_open(
    postgres_database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path / "var", database_connections=50
    )

    with caplog.at_level(logging.INFO, logger="api.serve"):
        cli._require_connection_budget(settings)

    (said,) = [r.getMessage() for r in caplog.records if "PostgreSQL connections" in r.message]
    assert "may open 50" in said
    assert "keep 6 and open up to 0 more" in said


@pytest.mark.postgres
def test_serve_whose_tenants_leave_too_few_connections_warns_and_goes_on(
    own_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What serve may open of a default server's connections (max_connections 100).
    settings = Settings.explicit(
        database_url=own_database,
        data_dir=tmp_path / "var",
        http_workers=2,
        database_connections=87,
    )
    setup = bootstrap(settings)
    for n in range(3):
        setup.tenants.create(f"city{n}", name=f"City {n}")
    setup.close()

    with caplog.at_level(logging.INFO, logger="api.serve"):
        cli._require_connection_budget(settings)  # no refusal

    (warned,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "too few for 3 tenants" in warned.getMessage()
    assert "DIGIONE_STORE_POOL_SIZE" in warned.getMessage()


@pytest.mark.postgres
def test_a_tenant_registered_while_serve_runs_is_said_to_need_a_restart_of_serve(
    own_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What serve may open of a default server's connections (max_connections 100).
    settings = Settings.explicit(
        database_url=own_database, data_dir=tmp_path / "var", database_connections=87
    )
    setup = bootstrap(settings)
    setup.tenants.create("espoo", name="Espoo")
    http = bootstrap(settings, role="http")  # serve's HTTP process, planned for espoo
    try:
        setup.tenants.create("oulu", name="Oulu")  # `digione tenant create` beside serve
        with caplog.at_level(logging.WARNING, logger="api.tenants"):
            http.tenants.get("espoo")
            http.tenants.get("oulu")
            http.tenants.get("oulu")
    finally:
        http.close()
        setup.close()

    (warned,) = [r.getMessage() for r in caplog.records if r.name == "api.tenants"]
    assert "'oulu' was registered after this process planned its connections" in warned
    assert "Restart serve" in warned


@pytest.mark.postgres
def test_a_tenant_stores_burst_connections_close_again_once_unused(
    own_database: str, tmp_path: Path
) -> None:
    """They stayed open for 10 minutes each (80 for a burst of 8), in every process and for
    every tenant that had a burst, where the connection plan counts one burst a process."""
    settings = Settings.explicit(
        database_url=own_database,
        data_dir=tmp_path / "var",
        store_pool_size=1,
        database_burst_idle_seconds=1.0,
    )
    container = bootstrap(settings)
    try:
        container.tenants.create("burst", name="Burst municipality")
        pool = container.tenants.get("burst").recorder.datastore.pool  # type: ignore[attr-defined]
        with contextlib.ExitStack() as burst:
            for _ in range(5):
                burst.enter_context(pool.connection())
            during = _number(own_database, CONNECTIONS)

        deadline = time.monotonic() + 60
        while pool.get_stats()["pool_size"] > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        kept, after = pool.get_stats()["pool_size"], _number(own_database, CONNECTIONS)
    finally:
        container.close()

    # The store keeps its one connection, and the four of the burst are closed.
    assert kept == 1
    assert after == during - 4
