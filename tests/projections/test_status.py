"""A projection's position, lag and parked count per tenant, and read-your-writes waits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from projections import positions
from projections import status as status_module
from projections.freshness import ReadModelNotFreshError, require_fresh, require_fresh_async
from projections.roster import RosterProjection
from projections.status import POLL_SECONDS, ProjectionStatus, UnknownProjectionError
from streams import positions as relay_positions
from streams.codec import family_topic
from tests.builders import a_school


def roster_topic(tenant: str) -> str:
    return family_topic("digione", tenant, "roster")


def relay_published(
    container: Container, tenant: str, position: int, partitions: dict[tuple[str, int], int]
) -> None:
    relay_positions.create_tables(container.engine)
    with container.engine.begin() as connection:
        relay_positions.record_published(connection, tenant, position, partitions)


def applied(
    container: Container, projection: str, tenant: str, partitions: dict[tuple[str, int], int]
) -> None:
    positions.create_tables(container.engine)
    for (topic, partition), position in partitions.items():
        key: dict[str, Any] = {
            "projection": projection,
            "tenant": tenant,
            "topic": topic,
            "partition": partition,
        }
        positions.ensure_partition(container.engine, **key)
        with container.engine.begin() as connection:
            positions.write_partition(
                connection,
                **key,
                value=positions.PartitionPosition(position, position, position),
            )


def test_partitions_that_applied_what_was_published_to_them_do_not_hold_the_position_back(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 50, {(topic, 0): 50, (topic, 1): 20, (topic, 2): 45})

    applied(container, roster.name, tenant, {(topic, 0): 50, (topic, 1): 20, (topic, 2): 45})

    assert status.position(tenant, roster.name) == 50


def test_a_lagging_partition_holds_the_position_at_what_it_applied(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 50, {(topic, 0): 50, (topic, 1): 20, (topic, 2): 45})

    applied(container, roster.name, tenant, {(topic, 0): 50, (topic, 1): 20, (topic, 2): 31})

    assert status.position(tenant, roster.name) == 31


def test_a_partition_the_projection_never_read_holds_the_position_at_zero(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 50, {(topic, 0): 50, (topic, 1): 20})

    applied(container, roster.name, tenant, {(topic, 0): 50})

    assert status.position(tenant, roster.name) == 0


def test_the_position_never_passes_what_the_relay_published(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    # The relay records after the broker acknowledged; a consumer may be quicker.
    relay_published(container, tenant, 40, {(topic, 0): 40})

    applied(container, roster.name, tenant, {(topic, 0): 60})

    assert status.position(tenant, roster.name) == 40


def test_topics_of_families_the_projection_does_not_read_do_not_count(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    assessments = family_topic("digione", tenant, "attainment")
    relay_published(container, tenant, 70, {(topic, 0): 50, (assessments, 0): 70})

    applied(container, roster.name, tenant, {(topic, 0): 50})

    assert status.position(tenant, roster.name) == 70


def test_lag_is_the_store_head_minus_the_position_and_parked_messages_are_counted(
    client: TestClient,
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    a_school(client, container, tenant)
    head = container.tenants.get(tenant).head_position()
    topic = roster_topic(tenant)
    relay_published(container, tenant, head - 5, {(topic, 0): head - 5})
    applied(container, roster.name, tenant, {(topic, 0): head - 5})
    with container.engine.begin() as connection:
        positions.park(
            connection,
            projection=roster.name,
            tenant=tenant,
            topic=topic,
            partition=0,
            offset=3,
            position=4,
            event_type="fi.digione.roster.org.registered.v1",
            aggregate_id="x",
            error="ValueError: broken",
        )

    state = status.state(tenant, roster.name)

    assert (state.position, state.head, state.lag, state.parked) == (head - 5, head, 5, 1)
    assert status.states() == [state]


def test_an_unknown_projection_is_refused(status: ProjectionStatus, tenant: str) -> None:
    with pytest.raises(UnknownProjectionError, match="no projection 'dashboards'"):
        status.position(tenant, "dashboards")


class LookCounter:
    """Counts the positions ProjectionStatus reads: each waiter's own look, the watcher's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.looks = 0
        self._counted = threading.Condition()
        look = ProjectionStatus._position

        def counted(*args: Any) -> int:
            with self._counted:
                self.looks += 1
                self._counted.notify_all()
            return look(*args)

        monkeypatch.setattr(ProjectionStatus, "_position", counted)

    def reached(self, looks: int, *, timeout: float) -> bool:
        """Whether `looks` were made within `timeout` seconds."""
        with self._counted:
            return self._counted.wait_for(lambda: self.looks >= looks, timeout)


@pytest.fixture
def one_short(container: Container, tenant: str, roster: RosterProjection) -> str:
    """The relay published position 10 to the roster topic; the projection applied 9 of it.
    Returns the topic."""
    topic = roster_topic(tenant)
    relay_published(container, tenant, 10, {(topic, 0): 10})
    applied(container, roster.name, tenant, {(topic, 0): 9})
    return topic


def test_many_reads_waiting_for_a_position_share_the_looks_and_all_wake_when_it_arrives(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
    one_short: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = one_short
    counter = LookCounter(monkeypatch)
    waiters, wait_seconds = 24, 0.6
    with ThreadPoolExecutor(waiters) as pool:
        waiting = [
            pool.submit(status.wait_for, tenant, roster.name, 10, 10.0) for _ in range(waiters)
        ]
        time.sleep(wait_seconds)
        applied(container, roster.name, tenant, {(topic, 0): 10})
        reached = [w.result(timeout=10) for w in waiting]

    assert reached == [True] * waiters
    # Each waiter looks once itself, then the watcher looks for all of them every 20 ms
    # (polling each on its own would be 24 waiters × 30 looks).
    assert counter.looks < waiters + 2 * wait_seconds / POLL_SECONDS + 20, counter.looks


def test_async_reads_waiting_for_a_position_share_the_watchers_looks_and_all_wake(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
    one_short: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = one_short
    counter = LookCounter(monkeypatch)
    waiters, wait_seconds = 24, 0.6

    async def reads() -> list[bool]:
        waiting = [
            asyncio.ensure_future(status.wait_for_async(tenant, roster.name, 10, 10.0))
            for _ in range(waiters)
        ]
        await asyncio.sleep(wait_seconds)
        await asyncio.to_thread(applied, container, roster.name, tenant, {(topic, 0): 10})
        return list(await asyncio.gather(*waiting))

    reached = asyncio.run(reads())

    assert reached == [True] * waiters
    # As for threads: each waiter looks once itself, then the watcher looks for all.
    assert counter.looks < waiters + 2 * wait_seconds / POLL_SECONDS + 20, counter.looks


def test_an_async_wait_answers_at_once_when_reached_and_false_after_the_timeout(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 10, {(topic, 0): 10})
    applied(container, roster.name, tenant, {(topic, 0): 10})

    async def waits() -> tuple[bool, bool]:
        reached = await status.wait_for_async(tenant, roster.name, 10, timeout_seconds=5)
        missed = await status.wait_for_async(tenant, roster.name, 11, timeout_seconds=0.1)
        return reached, missed

    started = time.monotonic()
    reached, missed = asyncio.run(waits())

    assert reached and not missed
    assert 0.1 <= time.monotonic() - started < 2


def test_wait_for_answers_at_once_when_reached_and_false_after_the_timeout(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 10, {(topic, 0): 10})
    applied(container, roster.name, tenant, {(topic, 0): 10})

    started = time.monotonic()
    reached = status.wait_for(tenant, roster.name, 10, timeout_seconds=5)
    answered_in = time.monotonic() - started
    missed = status.wait_for(tenant, roster.name, 11, timeout_seconds=0.1)
    missed_in = time.monotonic() - started - answered_in

    assert reached and answered_in < 1
    assert not missed and 0.1 <= missed_in < 2


def test_require_fresh_raises_with_the_position_reached_when_the_read_model_lags(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 10, {(topic, 0): 10})
    applied(container, roster.name, tenant, {(topic, 0): 10})

    require_fresh(status, tenant=tenant, projection=roster.name, min_position=None)
    require_fresh(status, tenant=tenant, projection=roster.name, min_position=10)
    with pytest.raises(ReadModelNotFreshError) as raised:
        require_fresh(
            status, tenant=tenant, projection=roster.name, min_position=12, timeout_seconds=0.05
        )

    assert (raised.value.position, raised.value.min_position) == (10, 12)
    assert "reached store position 10, not the 12 asked for" in str(raised.value)


def test_require_fresh_async_waits_without_blocking_and_raises_alike(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    status: ProjectionStatus,
) -> None:
    topic = roster_topic(tenant)
    relay_published(container, tenant, 10, {(topic, 0): 10})
    applied(container, roster.name, tenant, {(topic, 0): 10})

    async def reads() -> ReadModelNotFreshError:
        await require_fresh_async(status, tenant=tenant, projection=roster.name, min_position=9)
        with pytest.raises(ReadModelNotFreshError) as raised:
            await require_fresh_async(
                status,
                tenant=tenant,
                projection=roster.name,
                min_position=11,
                timeout_seconds=0.05,
            )
        return raised.value

    assert asyncio.run(reads()).position == 10


@pytest.fixture
def listening(
    container: Container, tenant: str, roster: RosterProjection, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ProjectionStatus]:
    """A status whose watcher listens for the runner's announcements, and polls so slowly
    (every 30 s) that within a read's timeout only an announcement can wake it."""
    monkeypatch.setattr(status_module, "POLL_SECONDS", 30.0)
    made = ProjectionStatus(
        engine=container.engine,
        projections=[roster],
        topic_prefix="digione",
        tenant_ids=lambda: [tenant],
        head_position=lambda t: container.tenants.get(t).head_position(),
        listen_url=container.settings.libpq_url,
    )
    yield made
    made.close()


def announced_while_waiting(
    status: ProjectionStatus,
    wait: tuple[str, str, int, float],
    announce: Callable[[], None],
    counter: LookCounter,
) -> bool:
    """Waits (tenant, projection, position, timeout) in a thread; once the read's own look
    and the watcher's first were made (it listens before it looks), runs `announce`."""
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(status.wait_for, *wait)
        assert counter.reached(2, timeout=10), "the watcher did not look"
        announce()
        return waiting.result(timeout=20)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_waiting_read_wakes_when_the_batch_that_applied_its_position_is_announced(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    one_short: str,
    listening: ProjectionStatus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def applied_and_announced() -> None:
        # As the runner's batch does it.
        key: dict[str, Any] = {
            "projection": roster.name,
            "tenant": tenant,
            "topic": one_short,
            "partition": 0,
        }
        with container.engine.begin() as connection:
            positions.lock_partition_for_batch(connection, **key, applying=True)
            positions.write_partition(
                connection, **key, value=positions.PartitionPosition(10, 10, 10)
            )

    reached = announced_while_waiting(
        listening, (tenant, roster.name, 10, 15.0), applied_and_announced, LookCounter(monkeypatch)
    )

    assert reached


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_announcements_of_other_positions_do_not_wake_a_waiting_read(
    container: Container,
    tenant: str,
    roster: RosterProjection,
    one_short: str,
    listening: ProjectionStatus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = LookCounter(monkeypatch)

    def others_announced() -> None:
        with container.engine.begin() as connection:
            for payload in (f"{tenant} guardian_view", f"other {roster.name}"):
                connection.execute(
                    sa.text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": positions.POSITIONS_CHANNEL, "payload": payload},
                )

    reached = announced_while_waiting(
        listening, (tenant, roster.name, 10, 1.5), others_announced, counter
    )

    # The read's own look and the watcher's first: none for the announcements.
    assert not reached and counter.looks == 2, counter.looks
