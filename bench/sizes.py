"""How much each section of the suite does: the full run, the quick one, and the clients."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONCURRENCY", "FULL", "QUICK", "Sizes"]

#: Concurrent HTTP clients of the commands section, and connections of its concurrent baseline.
CONCURRENCY = 16


@dataclass(frozen=True)
class Sizes:
    """How much each section does."""

    #: HTTP assessments, and raw commits of each baseline.
    commands: int
    #: Events each relay run publishes, and messages each bare producer publishes.
    relay_events: int
    #: Students of the rebuild's roster: 3 events each, plus 2.
    rebuild_students: int
    #: Roster PUTs per second under which freshness is measured, and for how long.
    freshness_rate: float
    freshness_seconds: float
    #: Dashboard reads (and trivial reads) at DASHBOARD_CLIENTS concurrent clients.
    dashboard_reads: int = 2_000
    #: Stored events `audit verify` recomputes, and the bare SHA-256 chain hashes.
    ledger_events: int = 100_000
    #: Assessments the fan-out routes to its ten services, and consents revoked after.
    fanout_events: int = 3_000
    revocations: int = 25
    #: Students of the OneRoster CSV import's city (a guardian each, a class per 20).
    oneroster_students: int = 50_000


FULL = Sizes(
    commands=3_000,
    relay_events=10_000,
    rebuild_students=3_000,
    freshness_rate=50.0,
    freshness_seconds=20.0,
)
#: Keeps the whole suite under about a minute.
QUICK = Sizes(
    commands=500,
    relay_events=2_000,
    rebuild_students=500,
    freshness_rate=50.0,
    freshness_seconds=5.0,
    dashboard_reads=400,
    ledger_events=20_000,
    fanout_events=150,
    revocations=5,
    oneroster_students=500,
)
