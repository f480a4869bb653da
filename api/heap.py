"""The garbage collector of a serving process, set once the system is built.

Everything built at start (the app's routes, SQLAlchemy's tables and compiled statements,
schemas, pools) lives as long as the process; CPython's cycle collector would otherwise
walk all of it at every full collection. Measured on a OneRoster page of 100 users (about
160,000 objects in the heap): two full collections in 400 pages took about 100 ms each, a
pause every request waiting meanwhile sees, and the collector cost 0.9 ms a page in all.
Frozen, the start-up heap is left out of every collection (objects are still freed by
reference counting; only cycles among them would be kept), and the youngest generation is
collected after 5,000 net allocations instead of 700, as a page of records allocates and
frees thousands of containers: the collector's cost fell to under 0.1 ms a page.

What the process keeps after it started still met full collections: during the bench's
OneRoster load (after the other measures' tenants were seeded) the HTTP process ran three
in 20 s, of 25, 33 and 36 ms, each a pause of every request in flight, and none found any
garbage. The oldest generation is therefore collected after OLD_GENERATION_THRESHOLD
collections of the middle one instead of 10 (CPython's rule that it also waits until the
objects promoted since the last one are a quarter of those it holds stays): cycles that
outlive two generations wait longer to be freed, and the pauses come ten times less often.
"""

from __future__ import annotations

import gc
from contextlib import AbstractContextManager

from projections.heap import YOUNG_GENERATION_THRESHOLD, heap_frozen_for_batches

__all__ = [
    "OLD_GENERATION_THRESHOLD",
    "YOUNG_GENERATION_THRESHOLD",
    "heap_settled_within",
    "settle_heap",
]

#: Collections of the middle generation after which the oldest is collected (CPython: 10).
OLD_GENERATION_THRESHOLD = 100


def settle_heap() -> None:
    """Collects what start-up left, then freezes the rest out of later collections, and
    collects the youngest and the oldest generations less often. Call once the process's
    system is built, just before it serves; never in a process that builds systems again and
    again (tests)."""
    gc.collect()
    gc.freeze()
    _young, middle, _old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, OLD_GENERATION_THRESHOLD)


def heap_settled_within() -> AbstractContextManager[None]:
    """Within: the collector as `settle_heap` leaves a serving process; on exit, as it was.
    For work that runs as served in a process that does not serve (the bench runs the
    application's own measures so). A freeze found on entry is kept as it is: only the
    thresholds change meanwhile."""
    return heap_frozen_for_batches(
        collect_first=True, old_generation_threshold=OLD_GENERATION_THRESHOLD
    )
