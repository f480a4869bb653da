"""A serving process leaves its start-up heap out of the cycle collector's walks."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any

from api.heap import OLD_GENERATION_THRESHOLD, YOUNG_GENERATION_THRESHOLD

_PROBE = """
import gc
from api.heap import settle_heap
built = [[n] for n in range(10_000)]
settle_heap()
print(gc.get_freeze_count(), gc.get_threshold()[0], gc.get_threshold()[2])
"""


def test_a_settled_process_freezes_what_it_built_and_collects_young_and_old_less_often() -> None:
    # In a process of its own: freezing is for good, and the test process must not keep it.
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )

    frozen, young, old = (int(word) for word in probe.stdout.split())
    assert frozen >= 10_000
    assert young == YOUNG_GENERATION_THRESHOLD
    assert old == OLD_GENERATION_THRESHOLD > 10  # CPython's default is 10


_REBUILD_PROBE = """
import gc
from api.heap import settle_heap
from projections.heap import heap_frozen_for_batches
built = [[n] for n in range(10_000)]
if SETTLED:
    settle_heap()
before = (gc.get_freeze_count(), gc.get_threshold())
with heap_frozen_for_batches():
    during = (gc.get_freeze_count(), gc.get_threshold())
after = (gc.get_freeze_count(), gc.get_threshold())
print(repr((before, during, after)))
"""


def _probe(source: str, *, settled: bool) -> tuple[Any, Any, Any]:
    """(freeze count, thresholds) before, within and after, in a process of its own."""
    probe = subprocess.run(
        [sys.executable, "-c", f"SETTLED = {settled}\n{source}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    before, during, after = ast.literal_eval(probe.stdout)
    return before, during, after


def test_a_rebuild_leaves_its_starting_heap_out_of_collections_and_restores_the_collector() -> None:
    before, during, after = _probe(_REBUILD_PROBE, settled=False)

    assert before[0] == 0
    assert during[0] >= 10_000
    assert during[1][0] == YOUNG_GENERATION_THRESHOLD
    assert after == before


def test_a_rebuild_in_a_settled_process_keeps_its_start_up_heap_frozen() -> None:
    before, during, after = _probe(_REBUILD_PROBE, settled=True)

    assert before[0] >= 10_000
    assert during[0] == before[0]
    assert after == before


_AS_SERVED_PROBE = """
import gc
from api.heap import heap_settled_within, settle_heap
built = [[n] for n in range(10_000)]
if SETTLED:
    settle_heap()
kept = [[n] for n in range(5_000)]  # what the process built since
before = (gc.get_freeze_count(), gc.get_threshold())
with heap_settled_within():
    during = (gc.get_freeze_count(), gc.get_threshold())
after = (gc.get_freeze_count(), gc.get_threshold())
print(repr((before, during, after)))
"""


def test_work_run_as_served_has_the_collector_of_a_serving_process_then_as_it_was() -> None:
    before, during, after = _probe(_AS_SERVED_PROBE, settled=False)

    assert before[0] == 0
    assert during[0] >= 15_000
    assert (during[1][0], during[1][2]) == (YOUNG_GENERATION_THRESHOLD, OLD_GENERATION_THRESHOLD)
    assert after == before


def test_work_run_as_served_in_a_settled_process_keeps_its_freeze_as_it_was() -> None:
    before, during, after = _probe(_AS_SERVED_PROBE, settled=True)

    assert before[0] >= 10_000
    assert during[0] == before[0]
    assert (during[1][0], during[1][2]) == (YOUNG_GENERATION_THRESHOLD, OLD_GENERATION_THRESHOLD)
    assert after == before
