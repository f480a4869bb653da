"""PostgreSQL's planner statistics of a tenant's store, gathered as the store fills.

A tenant's tables are created empty and filled by its first imports, and autovacuum
analyses a table at most once a minute, only after enough changes, and never where it is
off. Until then the planner takes the events table for 200 records of many events each: a
bulk import's read of a batch's 400 records (`TenantTables.events_after`) became a hash
join over every event of the store, 70 ms a batch at 500,000 events in a city's import
and growing with it, where index probes take a few. The store analyses its tables as its
position doubles: those never analysed, and those changed by more than autovacuum's rule
since (`due`; projections/statistics.py does the same for the read models' tables).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = [
    "ANALYSE_SCALE_FACTOR",
    "ANALYSE_THRESHOLD",
    "FIRST_ANALYSE_AT",
    "SMALL_TABLE_ROWS",
    "StoreStatistics",
    "due",
]

log = logging.getLogger(__name__)

#: The store position at which a process first looks whether the store's tables are due.
FIRST_ANALYSE_AT = 1000

#: autovacuum_analyze_threshold and autovacuum_analyze_scale_factor as PostgreSQL sets them.
ANALYSE_THRESHOLD = 50
ANALYSE_SCALE_FACTOR = 0.1
#: Tables of fewer rows (at their last analysis) are analysed at every look.
SMALL_TABLE_ROWS = 10_000


def due(changed: int, counted: float) -> bool:
    """Whether a table whose rows changed `changed` times since its last analysis is due
    for another; `counted`: the rows its last analysis counted (negative: never analysed).

    A table never analysed, or counted under SMALL_TABLE_ROWS, is due whatever the count
    says: a backend reports its changes up to a second after it made them, so during a
    build from the beginning (hundreds of messages a second) the counts a look reads lag
    behind the rows, and the OneRoster page went back to 7.7 ms when its role rows were
    left as a look counted them early on; analysing a small table reads it whole in a few
    milliseconds. A larger one is due by autovacuum's rule with PostgreSQL's defaults."""
    if counted < SMALL_TABLE_ROWS:
        return True
    return changed > ANALYSE_THRESHOLD + ANALYSE_SCALE_FACTOR * counted


class StoreStatistics:
    """Calls `analyse_due` (which analyses the store's tables that are `due`) when a save
    reaches FIRST_ANALYSE_AT, then each time the position doubled: a store filled from
    empty gets statistics early and a few times as it grows (11 looks to a million
    events), and a process that opens a large store looks once, at its first save (a
    catalogue query when autovacuum keeps the statistics current). The look runs in the
    thread of the save that reached the position, before the save's later listeners (the
    relay's wake-up); a save that comes while another runs the look does not wait for
    it; a failed look is logged, as the statistics only speed reads up."""

    def __init__(self, analyse_due: Callable[[], object], *, first: int = FIRST_ANALYSE_AT) -> None:
        if first < 1:
            raise ValueError(f"first must be at least 1, got {first}")
        self._analyse_due = analyse_due
        self._next = first
        self._looking = threading.Lock()

    def saved(self, position: int) -> None:
        """A save ended at store position `position` (a TenantCore.after_save listener)."""
        if position < self._next or not self._looking.acquire(blocking=False):
            return
        try:
            if position < self._next:
                return
            self._next = 2 * position
            try:
                self._analyse_due()
            except Exception:
                log.warning("could not analyse the store's tables", exc_info=True)
        finally:
            self._looking.release()
