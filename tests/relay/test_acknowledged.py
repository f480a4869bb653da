"""What the relay records once the broker acknowledged a run of a tenant's events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from api.bootstrap import Container
from streams import parked_events
from streams.acknowledged import acknowledging, record_acknowledged
from streams.positions import (
    create_tables,
    partition_positions,
    published_state,
    record_published,
    relay_partition_positions,
    relay_positions,
)
from tests.statements import statements_on

pytestmark = pytest.mark.postgres


def _park(connection: sa.Connection, tenant: str, position: int) -> None:
    parked_events.park(
        connection,
        tenant=tenant,
        position=position,
        event_type="domain.roster:Org.Registered",
        originator_id=None,
        originator_version=None,
        reason="refused as too large",
    )


@pytest.fixture
def engine(container: Container, tenant: str) -> Iterator[sa.Engine]:
    """The relay's tables on the test's backend; the tenant's rows in them go afterwards."""
    engine = container.engine
    create_tables(engine)
    parked_events.create_tables(engine)
    yield engine
    with engine.begin() as connection:
        for table in (relay_positions, relay_partition_positions, parked_events.relay_parked):
            connection.execute(sa.delete(table).where(table.c.tenant == tenant))


def test_an_acknowledged_run_records_the_position_its_partitions_and_unparks_what_it_passed(
    engine: sa.Engine, tenant: str
) -> None:
    with engine.begin() as connection:
        record_published(
            connection, tenant, 1, {("t.roster", 0): 1, ("t.consent", 2): 1}, broker_epoch="e1"
        )
        for position in (3, 9):
            _park(connection, tenant, position)

    with statements_on(engine) as statements, acknowledging(engine) as connection:
        record_acknowledged(
            connection,
            tenant,
            first=2,
            last=5,
            partitions={("t.roster", 0): 4, ("t.roster", 1): 5},
            broker_epoch="e2",
        )

    with engine.connect() as connection:
        assert published_state(connection, tenant) == (5, "e2")
        assert partition_positions(connection, tenant) == {
            ("t.roster", 0): 4,
            ("t.roster", 1): 5,
            ("t.consent", 2): 1,
        }
        still = parked_events.parked_events(connection, tenant=tenant)
    assert [p.position for p in still] == [9]
    if engine.dialect.name == "postgresql":
        # One statement in autocommit: committed though no transaction was begun.
        assert len(statements) == 1


def test_an_acknowledged_run_without_partitions_moves_the_position_alone(
    engine: sa.Engine, tenant: str
) -> None:
    with acknowledging(engine) as connection:
        record_acknowledged(connection, tenant, first=1, last=2, partitions={}, broker_epoch="e1")

    with engine.connect() as connection:
        assert published_state(connection, tenant) == (2, "e1")
        assert partition_positions(connection, tenant) == {}
