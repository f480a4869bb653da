"""A batch's first statement locks its partition and tells the batch what it must check: the
relay's broker epoch of the tenant, and whether the partition has parked messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from projections import positions
from projections.positions import LockedBatch, PartitionPosition
from streams import positions as relay_positions
from tests.projections.read_models import backend_engine


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    built = backend_engine(request, tmp_path)
    positions.create_tables(built)
    yield built
    built.dispose()


def _lock(engine: Engine, key: dict[str, Any]) -> LockedBatch | None:
    with engine.begin() as connection:
        return positions.lock_partition_for_batch(connection, **key)


def _park(engine: Engine, key: dict[str, Any]) -> None:
    with engine.begin() as connection:
        positions.park(
            connection, **key, offset=7, position=7, event_type="e", aggregate_id="a",
            error="failed",
        )  # fmt: skip


def test_a_locked_partition_says_its_position_the_relays_epoch_and_whether_it_has_parked(
    engine: Engine,
) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    key: dict[str, Any] = {"projection": "p", "tenant": tenant, "topic": "x", "partition": 1}
    assert _lock(engine, key) is None  # no row: the projection was reset

    positions.ensure_partition(engine, **key)
    before_any_publish = _lock(engine, key)
    assert before_any_publish == LockedBatch(PartitionPosition(0, None, None, None), None, False)

    with engine.begin() as connection:
        relay_positions.record_published(connection, tenant, 5, {}, broker_epoch="epoch-2")
        positions.write_partition(connection, **key, value=PartitionPosition(3, 4, 3, "epoch-1"))
    # Parked in another partition and by another projection: not this partition's.
    _park(engine, {**key, "partition": 2})
    _park(engine, {**key, "projection": "q"})
    assert _lock(engine, key) == LockedBatch(
        PartitionPosition(3, 4, 3, "epoch-1"), "epoch-2", False
    )

    _park(engine, key)
    locked = _lock(engine, key)
    assert locked is not None and locked.has_parked


def test_a_polls_partitions_of_a_topic_are_locked_together_each_saying_what_it_alone_says(
    engine: Engine,
) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    topic: dict[str, Any] = {"projection": "p", "tenant": tenant, "topic": "x"}
    for partition in (0, 1, 2):
        positions.ensure_partition(engine, **topic, partition=partition)
    with engine.begin() as connection:
        relay_positions.record_published(connection, tenant, 5, {}, broker_epoch="epoch-2")
        positions.write_partition(
            connection, **topic, partition=1, value=PartitionPosition(3, 4, 3, "epoch-1")
        )
    _park(engine, {**topic, "partition": 2})
    _park(engine, {**topic, "topic": "y", "partition": 0})  # another topic's: not these

    with engine.begin() as connection:
        together = positions.lock_partitions_for_batches(
            connection, **topic, partitions=[2, 0, 1, 7]
        )

    alone = {partition: _lock(engine, {**topic, "partition": partition}) for partition in (0, 1, 2)}
    assert together == alone  # partition 7 has no row: left out, as alone it is None
    assert [together[p].has_parked for p in (0, 1, 2)] == [False, False, True]
    assert together[1] == LockedBatch(PartitionPosition(3, 4, 3, "epoch-1"), "epoch-2", False)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_runners_batch_commits_without_waiting_for_the_flush_and_alone_in_that(
    engine: Engine,
) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    key: dict[str, Any] = {"projection": "p", "tenant": tenant, "topic": "x", "partition": 1}
    positions.ensure_partition(engine, **key)

    with engine.begin() as connection:
        locked = positions.lock_partition_for_batch(connection, **key, applying=True)
        batch_setting = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
    with engine.begin() as connection:
        positions.lock_partition_for_batch(connection, **key)
        other_setting = connection.exec_driver_sql("SHOW synchronous_commit").scalar()

    assert locked == LockedBatch(PartitionPosition(0, None, None, None), None, False)
    assert (batch_setting, other_setting) == ("off", "on")
