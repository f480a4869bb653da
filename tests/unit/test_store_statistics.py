"""When a store looks whether its tables are due for the planner's statistics: at a first
position, then each time its position doubled; a look that fails is logged, never raised
into the save, and a save that comes during a look does not wait for it."""

from __future__ import annotations

import logging
import threading

import pytest

from domain.store_statistics import StoreStatistics


def test_a_store_filling_from_empty_looks_at_the_first_position_then_at_each_doubling() -> None:
    looks: list[int] = []
    position = 0
    statistics = StoreStatistics(lambda: looks.append(position), first=1_000)

    for _ in range(100):  # 20,000 events saved 200 at a time
        position += 200
        statistics.saved(position)

    assert looks == [1_000, 2_000, 4_000, 8_000, 16_000]


def test_a_process_opening_a_large_store_looks_once_at_its_first_save() -> None:
    looks: list[int] = []
    statistics = StoreStatistics(lambda: looks.append(1), first=1_000)

    statistics.saved(5_000_000)
    for position in range(5_000_001, 5_001_000):
        statistics.saved(position)

    assert looks == [1]


def test_a_look_that_fails_is_logged_and_the_save_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def analyse() -> None:
        raise RuntimeError("the database went away")

    statistics = StoreStatistics(analyse, first=10)

    with caplog.at_level(logging.WARNING, logger="domain.store_statistics"):
        statistics.saved(10)

    assert "could not analyse the store's tables" in caplog.text
    assert "the database went away" in caplog.text


def test_a_save_during_a_look_does_not_wait_for_it() -> None:
    looking, release = threading.Event(), threading.Event()
    looks: list[int] = []

    def analyse() -> None:
        looks.append(1)
        looking.set()
        release.wait(5)

    statistics = StoreStatistics(analyse, first=10)
    first = threading.Thread(target=statistics.saved, args=(10,))
    first.start()
    assert looking.wait(5)

    statistics.saved(1_000)  # due too, but a look is running: returns at once

    release.set()
    first.join(5)
    assert looks == [1]


def test_a_first_position_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StoreStatistics(lambda: None, first=0)
