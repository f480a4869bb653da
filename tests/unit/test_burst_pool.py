"""The main database's pool keeps a burst's connections while the burst lasts (api/burst_pool.py)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import PoolProxiedConnection

from api.burst_pool import BurstPool
from tests.conftest import Ticking


class Connections:
    """The pool's creator: counts the connections opened, and tells which are still open."""

    def __init__(self) -> None:
        self.opened: list[sqlite3.Connection] = []

    def __call__(self) -> sqlite3.Connection:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        self.opened.append(connection)
        return connection

    @property
    def open(self) -> int:
        return sum(1 for c in self.opened if _is_open(c))


def _is_open(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return False
    return True


@pytest.fixture
def clock() -> Ticking:
    return Ticking()


@pytest.fixture
def connections() -> Connections:
    return Connections()


@pytest.fixture
def pool(clock: Ticking, connections: Connections) -> Iterator[BurstPool]:
    pool = BurstPool.idle_for(60.0, clock=clock)(
        connections, pool_size=1, max_overflow=3, timeout=0.05
    )
    yield pool
    pool.dispose()


def _burst(pool: BurstPool, size: int) -> list[PoolProxiedConnection]:
    return [pool.connect() for _ in range(size)]


def _return(checked_out: list[PoolProxiedConnection]) -> None:
    for connection in checked_out:
        connection.close()


def test_a_second_burst_reuses_the_first_bursts_connections(
    pool: BurstPool, connections: Connections
) -> None:
    _return(_burst(pool, 4))
    _return(_burst(pool, 4))
    assert len(connections.opened) == 4  # a QueuePool of the same sizes opens 7
    assert connections.open == 4


def test_a_burst_connection_closes_once_unused_for_the_idle_time(
    pool: BurstPool, connections: Connections, clock: Ticking
) -> None:
    _return(_burst(pool, 4))
    clock.now += 59.0
    _return(_burst(pool, 1))
    assert connections.open == 4  # not idle long enough yet
    clock.now += 2.0
    _return(_burst(pool, 1))
    assert connections.open == 1  # the one kept
    assert pool.resting() == 0


def test_the_burst_connections_used_last_are_the_ones_kept(
    pool: BurstPool, connections: Connections, clock: Ticking
) -> None:
    _return(_burst(pool, 4))
    clock.now += 30.0
    # A smaller burst keeps going: it uses the kept connection and the latest rested one.
    for _ in range(4):
        _return(_burst(pool, 2))
        clock.now += 15.0
    assert connections.open == 2
    assert len(connections.opened) == 4


def test_with_no_idle_time_a_burst_connection_closes_when_returned(
    clock: Ticking, connections: Connections
) -> None:
    pool = BurstPool.idle_for(0.0, clock=clock)(connections, pool_size=1, max_overflow=3)
    _return(_burst(pool, 4))
    assert connections.open == 1
    _return(_burst(pool, 4))
    assert len(connections.opened) == 7  # as QueuePool does
    pool.dispose()


def test_no_more_than_kept_and_burst_connections_are_ever_open(
    pool: BurstPool, connections: Connections
) -> None:
    held = _burst(pool, 4)
    with pytest.raises(sa.exc.TimeoutError):
        pool.connect()
    _return(held[:1])
    again = pool.connect()  # the one returned, not a fifth
    assert len(connections.opened) == 4
    _return([again, *held[1:]])
    assert pool.checkedout() == 0


def test_disposing_closes_the_resting_connections(
    pool: BurstPool, connections: Connections
) -> None:
    _return(_burst(pool, 4))
    pool.dispose()
    assert connections.open == 0


def test_an_engine_reconnecting_keeps_the_idle_time(clock: Ticking) -> None:
    engine = sa.create_engine("sqlite://", poolclass=BurstPool.idle_for(7.0, clock=clock))
    engine.dispose()  # a new pool of the same class
    assert isinstance(engine.pool, BurstPool)
    assert engine.pool.idle_seconds == 7.0


def test_a_negative_idle_time_is_refused() -> None:
    with pytest.raises(ValueError, match="idle_seconds must be 0 or more"):
        BurstPool.idle_for(-1.0)


def test_disposing_a_pool_logs_no_more_than_sqlalchemys_own_pools(
    clock: Ticking, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine = sa.create_engine("sqlite://", poolclass=BurstPool.idle_for(7.0, clock=clock))
    with engine.connect():
        pass
    engine.dispose()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("api.")] == []
