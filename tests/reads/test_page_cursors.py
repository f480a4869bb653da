"""The marks pages leave for the next page of a walk, and the read model's version that
tells when a mark no longer holds (projections/reads/page_cursors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections import positions
from projections.reads.page_cursors import PageCursors, PageMark

WALK = ("client", "result", None, "asc")


def test_a_mark_is_found_at_its_offset_in_the_version_it_was_read_in() -> None:
    cursors = PageCursors()
    cursors.leave(WALK, 100, PageMark(version=(1,), after="r-0099", total=500))

    assert cursors.find(WALK, 100, (1,)) == PageMark(version=(1,), after="r-0099", total=500)
    assert cursors.find(WALK, 200, (1,)) is None
    assert cursors.find(("another client", *WALK[1:]), 100, (1,)) is None


def test_a_mark_of_a_read_model_that_moved_is_dropped() -> None:
    cursors = PageCursors()
    cursors.leave(WALK, 100, PageMark(version=(1,), after="r-0099", total=500))

    assert cursors.find(WALK, 100, (2,)) is None
    assert cursors.find(WALK, 100, (1,)) is None
    assert len(cursors) == 0


def test_the_least_recently_used_marks_go_first_beyond_the_capacity() -> None:
    cursors = PageCursors(capacity=2)
    for offset in (100, 200):
        cursors.leave(WALK, offset, PageMark(version=(1,), after=f"r-{offset}", total=500))
    assert cursors.find(WALK, 100, (1,)) is not None  # used: 200 is now the oldest

    cursors.leave(WALK, 300, PageMark(version=(1,), after="r-300", total=500))

    assert len(cursors) == 2
    assert cursors.find(WALK, 200, (1,)) is None
    assert cursors.find(WALK, 100, (1,)) is not None


def test_a_capacity_below_one_is_refused_with_what_to_give() -> None:
    with pytest.raises(ValueError, match="give 1 or more"):
        PageCursors(capacity=0)


@pytest.fixture
def engine() -> Iterator[Engine]:
    built = sa.create_engine("sqlite://")
    positions.create_tables(built)
    yield built
    built.dispose()


def _version(engine: Engine, tenant: str = "t1") -> object:
    with engine.connect() as connection:
        return positions.read_model_version(connection, projection="roster", tenant=tenant)


def test_the_read_model_version_moves_with_whatever_can_change_the_read_model(
    engine: Engine,
) -> None:
    key: dict[str, Any] = {
        "projection": "roster",
        "tenant": "t1",
        "topic": "digione.t1.roster.v1",
        "partition": 2,
    }
    seen = [_version(engine)]
    with engine.begin() as c:
        c.execute(positions.projection_positions.insert().values(**key, position=0))
    seen.append(_version(engine))
    with engine.begin() as c:
        positions.write_partition(c, **key, value=positions.PartitionPosition(7, 8, 7))
    seen.append(_version(engine))
    with engine.begin() as c:  # a message its handler failed: parked, and the position passes it
        positions.park(
            c, **key, offset=8, position=9, event_type=None, aggregate_id=None, error="x"
        )
        positions.write_partition(c, **key, value=positions.PartitionPosition(9, 9, 9))
    seen.append(_version(engine))
    with engine.begin() as c:
        parked = positions.parked_messages(c, projection="roster")
        positions.park(c, **key, offset=8, position=9, event_type=None, aggregate_id=None,
                       error="again", existing=parked[0])  # fmt: skip
    seen.append(_version(engine))  # another failed attempt changes nothing
    with engine.begin() as c:
        positions.unpark(c, parked[0].id)  # applied at last
    seen.append(_version(engine))
    with engine.begin() as c:
        positions.store_version(c, "roster", 11)
    seen.append(_version(engine))

    assert len(set(seen)) == 6
    assert seen[3] == seen[4]
    # Another tenant's read model is another: none of the first's positions is its own.
    assert _version(engine, tenant="t2") == ((1, "", 0, 0), (2, "", 0, 0), (3, "", 0, 11))


def test_a_walks_first_page_reads_no_version_and_a_later_one_finds_its_mark(
    engine: Engine,
) -> None:
    cursors = PageCursors()
    with engine.connect() as c:
        first = cursors.page(c, WALK, 0, projection="roster", tenant="t1")
        second = cursors.page(c, WALK, 100, projection="roster", tenant="t1")
        assert first is None and second is not None and second.mark is None
        second.read([{"sourced_id": f"r-{n:03d}"} for n in range(100, 200)], limit=100, total=450)
        third = cursors.page(c, WALK, 200, projection="roster", tenant="t1")

    assert third is not None and third.mark is not None
    assert (third.mark.after, third.mark.total) == ("r-199", 450)
