"""When the runner analyses a projection's tables as they fill: it looks first after a number
of applied messages, then each time the number applied doubled, and a look analyses the
tables never analysed or small, and larger ones that changed enough."""

from __future__ import annotations

import pytest

from projections.statistics import GrowthSchedule, due


def test_a_look_comes_first_after_the_first_thousand_messages_then_at_each_doubling() -> None:
    schedule = GrowthSchedule(1_000)
    due_at = []
    applied = 0
    for batch in [400] * 50:  # 20,000 messages in batches of 400
        applied += batch
        if schedule.applied(batch):
            due_at.append(applied)

    assert due_at == [1_200, 2_400, 4_800, 9_600, 19_200]


def test_a_single_large_batch_makes_the_tables_due_once() -> None:
    schedule = GrowthSchedule(1_000)

    assert schedule.applied(50_000)
    assert not schedule.applied(49_999)
    assert schedule.applied(1)


def test_a_schedule_of_no_messages_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GrowthSchedule(0)


def test_a_table_never_analysed_or_small_is_due_whatever_its_changes_say() -> None:
    # A backend reports its changes up to a second late: a just-filled table may show none.
    assert due(0, -1.0)
    assert due(0, 9_999.0)


def test_a_large_table_is_due_after_fifty_changes_and_a_tenth_of_its_rows() -> None:
    assert not due(1_050, 10_000.0)
    assert due(1_051, 10_000.0)
    assert not due(3_000_000, 35_000_000.0)  # a city's read model after a restart
    assert due(3_500_051, 35_000_000.0)
