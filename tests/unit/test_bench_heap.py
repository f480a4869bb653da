"""The bench runs the application's own measures with the collector as serve's processes
have it, and leaves the collector as it found it."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any

from api.heap import OLD_GENERATION_THRESHOLD, YOUNG_GENERATION_THRESHOLD
from bench.measures import Measure
from bench.rows import Row
from bench.suite import _run


def test_an_application_measure_runs_with_the_heap_settled_and_the_collector_restored() -> None:
    kept = [[n] for n in range(10_000)]  # what earlier measures seeded, say
    before = (gc.get_freeze_count(), gc.get_threshold())
    seen: list[tuple[int, tuple[int, int, int]]] = []

    def store_path(_bench: Any) -> list[Row]:
        seen.append((gc.get_freeze_count(), gc.get_threshold()))
        return []

    _run(SimpleNamespace(seconds={}), [Measure("store_path", store_path)])  # type: ignore[arg-type]

    ((frozen, thresholds),) = seen
    assert frozen >= before[0] + len(kept)
    assert (thresholds[0], thresholds[2]) == (YOUNG_GENERATION_THRESHOLD, OLD_GENERATION_THRESHOLD)
    assert (gc.get_freeze_count(), gc.get_threshold()) == before
