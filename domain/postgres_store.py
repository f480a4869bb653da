"""The persistence factory of a tenant's event store on PostgreSQL: eventsourcing's, whose
pool closes the connections of a burst again once they go unused.

eventsourcing's pool (psycopg_pool) keeps POSTGRES_POOL_SIZE connections and opens up to
POSTGRES_MAX_OVERFLOW more when more are wanted at once; it then closes one of those, each
time one stayed unused for a whole `max_idle` period, which it leaves at 10 minutes. So a
burst of 8 stayed open for 80 minutes, in each of serve's processes and for each tenant
whose store had one: the connection plan (api/connection_budget.py) counts one store's
burst per process, and a busy hour of several tenants held each one's. (In the test
suite, the benchmark's server held 49 connections, idle, after its commands, 27 of them in
its two HTTP processes, while other workers' tests ran beside it on a server of 100.)

POSTGRES_BURST_IDLE_SECONDS sets that period: the server's DIGIONE_DATABASE_BURST_IDLE_SECONDS,
as its request pools use (at least MIN_IDLE_SECONDS: psycopg_pool looks every period).
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType

__all__ = ["MIN_IDLE_SECONDS", "PostgresStoreFactory"]

#: The shortest period psycopg_pool is asked to look for unused connections in: every 0 s
#: would keep one of its threads busy.
MIN_IDLE_SECONDS = 1.0


class PostgresStoreFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory; the pool of its datastore closes one connection
    beyond those it keeps each POSTGRES_BURST_IDLE_SECONDS that one stayed unused (unset:
    psycopg_pool's 10 minutes)."""

    POSTGRES_BURST_IDLE_SECONDS = "POSTGRES_BURST_IDLE_SECONDS"

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        idle = self.env.get(self.POSTGRES_BURST_IDLE_SECONDS)
        if idle:
            # Before the pool opens (at its first connection): it schedules its first look
            # then, with this period, and each later one with the period it has then.
            self.datastore.pool.max_idle = max(MIN_IDLE_SECONDS, float(idle))
