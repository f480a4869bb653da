"""How many connections to PostgreSQL each process of `serve` may open, so that together
they stay within what the server lets its clients have.

Every process builds pools of its own (api/bootstrap.py): the requests' two (the main
engine's and the hot reads'), each tenant's event store's, the relay's and the projection
runner's, and a few listening connections. At their configured sizes (10 kept and 30 more
in a burst, for each of the requests' two), two HTTP processes under 200 commands/s opened
96 of the 97 connections a default PostgreSQL (max_connections 100, 3 reserved) lets its
clients have: requests failed 503 and the relay logged "too many clients already".

The plan divides a budget among serve's processes: DIGIONE_DATABASE_CONNECTIONS, or what the
server lets its clients have less a tenth (10 at least), left for everything else (the CLI
beside serve, psql, backups, monitoring). The processes that answer no requests (the worker
process, and serve's own process while uvicorn's workers answer) take a fixed share; each
HTTP process then has an equal part of the rest, which first covers its listeners, its
stores' kept connections and the relay's status, and which one store's burst and the
requests' two pools divide, never beyond their configured sizes. A request finding its
pool's connections busy waits for one (up to 5 s), as it did before.

The stores kept open are counted for the tenants DIGIONE_ONLY_TENANTS names or, in serve's
processes, for every tenant registered when the process starts (each keeps
DIGIONE_STORE_POOL_SIZE in every process); other commands count one. One of serve's
processes that opens the store of a tenant registered since it started, beyond what its
share holds, warns that serve should be restarted to plan for it. When the budget leaves
each request pool fewer than MIN_REQUEST_POOL connections even for one tenant, `digione
serve` refuses to start and says what to change; when its tenants do, it warns and goes on
with that many (other commands go on either way: they are the tenth left for the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

__all__ = [
    "MIN_REQUEST_POOL",
    "STORE_BURST",
    "ConnectionPlan",
    "ProcessRole",
    "ServerFacts",
    "default_budget",
    "plan_connections",
    "serve_process_role",
    "server_facts",
]

#: What a system is built for (api/bootstrap.py `bootstrap`): "http", one of serve's HTTP
#: processes; "background", one of its processes that answer no requests (the worker
#: process, serve's own beside uvicorn's workers): both serve every registered tenant.
#: "command": anything else (a command beside serve, a test), sized as an HTTP process, its
#: stores counted for one tenant.
ProcessRole = Literal["http", "background", "command"]

#: The fewest connections each of an HTTP process's two request pools may have.
MIN_REQUEST_POOL = 3
#: Connections a process holds outside its pools: the shared epochs' and the projection
#: positions' listeners, the forgotten keys' and the worker report's connections.
LISTENING_CONNECTIONS = 4
#: How many more connections than it keeps a tenant's event store opens in a burst, at
#: most (api/tenants.py); the plan may allow fewer.
STORE_BURST = 8
#: The relay's and the projection runner's pool (api/bootstrap.py `_pipeline_engine`):
#: connections kept, and how many more a burst opens.
PIPELINE_POOL = 3
PIPELINE_OVERFLOW = 4
#: The same pool in an HTTP process beside the worker process: the relay's status for
#: /healthz only (one kept, one more).
STATUS_PIPELINE_POOL = 1
STATUS_PIPELINE_OVERFLOW = 1
#: Each request pool's size, and each store's burst, in a process that answers no requests
#: (the worker process, serve's own process while uvicorn's workers answer): the fan-out,
#: retention, the disclosures of services' deliveries and the worker's report.
QUIET_POOL = 4
QUIET_STORE_BURST = 2


@dataclass(frozen=True)
class ConnectionPlan:
    """One process's pools, as the budget allows."""

    #: The connections serve's processes may open in all.
    budget: int
    #: Of them, what this process may open at most.
    share: int
    #: Each request pool's connections kept open, and how many more a burst may open.
    pool_size: int
    max_overflow: int
    #: How many more connections than it keeps each tenant's event store may open.
    store_overflow: int
    #: The relay's and the projection runner's pool: kept, and more in a burst.
    pipeline_pool: int
    pipeline_overflow: int
    #: Why the budget is too small for serve's processes and their tenants (None: it is
    #: not). The request pools then have MIN_REQUEST_POOL connections each.
    shortfall: str | None = None
    #: The shortfall it has even with one tenant: `digione serve` refuses to start.
    refused: str | None = None
    #: How many tenants' stores the share holds (those counted, and as many more as its
    #: unplanned connections keep open): one of serve's processes opening more says so
    #: (api/tenants.py). None: not counted from the registry (no such check).
    stores: int | None = None


@dataclass(frozen=True)
class ServerFacts:
    """What the plan asks of the PostgreSQL server."""

    #: How many connections it lets clients that are not superusers have: max_connections
    #: less the slots it reserves (superuser_reserved_connections and, from PostgreSQL 16,
    #: reserved_connections).
    client_limit: int
    #: How many tenants the database's registry holds (0 before the first).
    registered_tenants: int


def server_facts(libpq_url: str, *, tenants_table: str | None, connect_timeout: int) -> ServerFacts:
    """Asks the server its connection limit, and counts the tenants in `tenants_table`
    (None: counts none)."""
    with psycopg.connect(libpq_url, autocommit=True, connect_timeout=connect_timeout) as c:
        limit = c.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true), '0')::int"
        ).fetchone()
        assert limit is not None
        client_limit = limit[0]
        tenants = 0
        if tenants_table is not None:
            exists = c.execute("SELECT to_regclass(%s) IS NOT NULL", (tenants_table,))
            if exists.fetchone() == (True,):
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(tenants_table))
                counted = c.execute(query).fetchone()
                tenants = int(counted[0]) if counted else 0
    return ServerFacts(client_limit=int(client_limit), registered_tenants=tenants)


def default_budget(client_limit: int) -> int:
    """What serve may open of what the server lets clients have: all but a tenth (10 at
    least) for the CLI, psql, backups and monitoring."""
    return client_limit - max(10, client_limit // 10)


def serve_process_role(http_workers: int) -> ProcessRole:
    """The role of `serve`'s own process: with several HTTP processes (uvicorn's workers)
    it answers no requests itself."""
    return "http" if http_workers == 1 else "background"


def plan_connections(
    *,
    budget: int,
    http_workers: int,
    worker_process: bool,
    answers_requests: bool,
    pool_size: int,
    max_overflow: int,
    store_pool_size: int,
    tenants: int,
) -> ConnectionPlan:
    """This process's pools within `budget`, among serve's processes as the settings make
    them (`http_workers` HTTP processes; with `worker_process`, one more; with several HTTP
    processes, serve's own one too). `answers_requests`: whether this process is an HTTP
    process; `pool_size` and `max_overflow` are what each request pool may have at most;
    each of the `tenants` event stores keeps `store_pool_size` connections.

    Each process keeps its listeners and its stores' kept connections; one store's burst
    and the two request pools divide the rest of an HTTP process's share. The plan says
    its shortfall when the request pools would have fewer than MIN_REQUEST_POOL
    connections each, and whether it has it with one tenant too (`refused`)."""
    kept = LISTENING_CONNECTIONS + max(1, tenants) * store_pool_size
    quiet_share = kept + QUIET_STORE_BURST + 2 * QUIET_POOL + PIPELINE_POOL + PIPELINE_OVERFLOW
    quiet = int(worker_process) + int(http_workers > 1)
    http_share = (budget - quiet * quiet_share) // http_workers
    # Without the worker process the one HTTP process runs the relay and the runner too.
    pipeline = (
        (STATUS_PIPELINE_POOL, STATUS_PIPELINE_OVERFLOW)
        if worker_process
        else (PIPELINE_POOL, PIPELINE_OVERFLOW)
    )
    rest = http_share - kept - sum(pipeline)
    store_overflow = min(STORE_BURST, max(0, rest // 3))
    each = (rest - store_overflow) // 2
    shortfall = None
    if each < MIN_REQUEST_POOL:
        shortfall = (
            f"serve's processes ({http_workers} HTTP, {quiet} more) may open {budget} "
            f"connections to PostgreSQL, too few for {_tenants(tenants)}: each HTTP "
            f"process's request pools would have {max(each, 0)}, and need {MIN_REQUEST_POOL} "
            "at least. Raise the server's max_connections, lower DIGIONE_HTTP_WORKERS or "
            f"DIGIONE_STORE_POOL_SIZE (each tenant's store keeps {store_pool_size} open in "
            "every process), or set DIGIONE_DATABASE_CONNECTIONS to how many serve may open "
            "in all"
        )
        each = MIN_REQUEST_POOL
    refused = shortfall
    if shortfall is not None and tenants > 1:
        alone = plan_connections(
            budget=budget,
            http_workers=http_workers,
            worker_process=worker_process,
            answers_requests=answers_requests,
            pool_size=pool_size,
            max_overflow=max_overflow,
            store_pool_size=store_pool_size,
            tenants=1,
        )
        refused = alone.refused
    if answers_requests:
        total = min(pool_size + max_overflow, each)
        share = http_share
    else:
        total = min(pool_size + max_overflow, QUIET_POOL)
        store_overflow = QUIET_STORE_BURST
        share = quiet_share
        pipeline = (PIPELINE_POOL, PIPELINE_OVERFLOW)
    kept_pool = min(pool_size, total)
    spare = share - (kept + store_overflow + sum(pipeline) + 2 * total)
    return ConnectionPlan(
        budget=budget,
        share=share,
        pool_size=kept_pool,
        max_overflow=total - kept_pool,
        store_overflow=store_overflow,
        pipeline_pool=pipeline[0],
        pipeline_overflow=pipeline[1],
        shortfall=shortfall,
        refused=refused,
        stores=max(1, tenants) + max(0, spare) // max(1, store_pool_size),
    )


def _tenants(count: int) -> str:
    return "1 tenant" if count <= 1 else f"{count} tenants"
