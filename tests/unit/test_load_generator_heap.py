"""The bench's load generator times requests with its heap left out of the cycle collector:
a full collection of what the run seeded paused it for 197 ms in the middle of a load."""

from __future__ import annotations

import gc

from bench.http_load import run_load


def test_a_load_runs_with_the_generators_heap_frozen_and_the_collector_restored_after() -> None:
    kept = [[n] for n in range(10_000)]  # the run's seeded data, say
    before = (gc.get_freeze_count(), gc.get_threshold())

    async def frozen_while_running() -> int:
        return gc.get_freeze_count()

    frozen = run_load(frozen_while_running())

    assert frozen >= before[0] + len(kept)
    assert (gc.get_freeze_count(), gc.get_threshold()) == before
