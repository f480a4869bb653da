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
from projections.positions import BatchEnd, LockedBatch, PartitionPosition
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


def _end(first_offset: int, highest: int | None, **changes: Any) -> BatchEnd:
    """A batch of offsets `first_offset`..`first_offset + 2` whose highest position is
    `highest`, read in the relay's epoch-1."""
    values: dict[str, Any] = {
        "first_offset": first_offset,
        "from_beginning": False,
        "highest_position": highest,
        "next_offset": first_offset + 3,
        "checkpoint_position": highest,
        "broker_epoch": "epoch-1",
    }
    return BatchEnd(**{**values, **changes})


def test_the_lock_of_a_runners_batches_ends_those_in_step_on_postgresql_and_leaves_the_rest(
    engine: Engine,
) -> None:
    """Partition 0 in step (its end written, the position the greater one), 1 starting at
    another offset, 2 read in another epoch, 3 from the beginning of the log with positions
    all below its own, 4 without an end: each says where it stood before the statement; only
    0 and 3 are ended, and only on PostgreSQL (elsewhere the batch's transaction writes its
    end by a statement of its own)."""
    tenant = "t" + uuid.uuid4().hex[:10]
    topic: dict[str, Any] = {"projection": "p", "tenant": tenant, "topic": "x"}
    stored = PartitionPosition(30, 4, 30, "epoch-1")
    for partition in range(5):
        positions.ensure_partition(engine, **topic, partition=partition)
    with engine.begin() as connection:
        relay_positions.record_published(connection, tenant, 90, {}, broker_epoch="epoch-1")
        for partition in range(5):
            positions.write_partition(connection, **topic, partition=partition, value=stored)
    ends = {
        0: _end(4, 41),
        1: _end(5, 41),
        2: _end(4, 41, broker_epoch="epoch-0"),
        3: _end(0, 12, from_beginning=True),
    }

    with engine.begin() as connection:
        locked = positions.lock_partitions_for_batches(
            connection, **topic, partitions=range(5), applying=True, ends=ends
        )
    with engine.connect() as connection:
        after = {n: positions.read_partition(connection, **topic, partition=n) for n in range(5)}

    on_postgresql = engine.dialect.name == "postgresql"
    assert {n: locked[n].position for n in range(5)} == dict.fromkeys(range(5), stored)
    assert {n for n in range(5) if locked[n].ended} == ({0, 3} if on_postgresql else set())
    assert all(locked[n].published_epoch == "epoch-1" for n in range(5))
    if on_postgresql:
        assert after[0] == PartitionPosition(41, 7, 41, "epoch-1")
        assert after[3] == PartitionPosition(30, 3, 12, "epoch-1")
    assert [after[n] for n in (1, 2, 4)] == [stored] * 3
    if not on_postgresql:
        assert [after[n] for n in (0, 3)] == [stored] * 2


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_an_ended_batch_that_rolls_back_leaves_its_partition_as_it_was(engine: Engine) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    key: dict[str, Any] = {"projection": "p", "tenant": tenant, "topic": "x", "partition": 0}
    positions.ensure_partition(engine, **key)

    with pytest.raises(RuntimeError, match="the handler failed"), engine.begin() as connection:
        locked = positions.lock_partitions_for_batches(
            connection, **{k: key[k] for k in ("projection", "tenant", "topic")},
            partitions=[0], applying=True,
            ends={0: _end(0, 3, from_beginning=True, broker_epoch=None)},
        )  # fmt: skip
        assert locked[0].ended
        raise RuntimeError("the handler failed")

    with engine.connect() as connection:
        assert positions.read_partition(connection, **key) == PartitionPosition(0, None, None)
