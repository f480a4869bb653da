"""How much each measure does: the full run, the quick one, and the clients."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CITY_STUDENTS", "CONCURRENCY", "FULL", "QUICK", "Sizes"]

#: The students of the city that `digione bench --city` imports as OneRoster CSV (issue 11:
#: 50,000 students, their guardians, 2,500 classes, 150,000 enrollments). The full run
#: imports a town of 2,000: the city's import alone takes minutes, and its projection until
#: it reads over REST longer (the section's summary gives each phase's time).
CITY_STUDENTS = 50_000

#: Concurrent clients of the closed loops (HTTP reads and commands), committers of the store
#: path, and connections of the raw commit baseline; `digione bench --clients N` changes it.
CONCURRENCY = 32


@dataclass(frozen=True)
class Sizes:
    """How much each measure does."""

    #: HTTP assessments (commands_http).
    commands: int
    #: Assessments through the application, and raw commits of their baseline
    #: (commands_store): more than over HTTP, as 3,000 of them took about a second and the
    #: machine's moment then decided the ratio (0.58-1.14 over seven short runs).
    store_commands: int
    #: Realistic stored events the relay publishes (and the bare producer produces).
    relay_events: int
    #: Students of the rebuild's roster: 3 events each, plus 2.
    rebuild_students: int
    #: Roster PUTs per second offered open-loop for freshness, and for how long.
    freshness_rate: float
    freshness_seconds: float
    #: Reads of each closed loop (trivial, dashboard, OneRoster users).
    reads: int = 2_000
    #: The fixed open-loop request rate at which read latencies are measured, and how long.
    fixed_rate: float = 100.0
    fixed_rate_seconds: float = 10.0
    #: Erasures, requested open-loop at `erasure_rate` per second.
    erasures: int = 120
    erasure_rate: float = 10.0
    #: The dashboard's class: line items over a year (a result of every student for each)
    #: and assessments of each of its 14 objectives.
    dashboard_line_items: int = 12
    dashboard_attainment_rounds: int = 2
    #: Stored events `audit verify` recomputes, and the bare SHA-256 chain hashes.
    ledger_events: int = 100_000
    #: Assessments the fan-out routes to its ten services, and consents revoked after.
    fanout_events: int = 3_000
    revocations: int = 25
    #: Students of the OneRoster CSV import's city (a guardian each, a class per 20).
    oneroster_students: int = 2_000


FULL = Sizes(
    commands=3_000,
    store_commands=15_000,
    relay_events=20_000,
    rebuild_students=33_400,  # 100,202 events
    freshness_rate=200.0,
    freshness_seconds=20.0,
)
#: Every measure, briefly: a smoke run of the whole suite in a few minutes.
QUICK = Sizes(
    commands=500,
    store_commands=500,
    relay_events=2_000,
    rebuild_students=500,
    freshness_rate=200.0,
    freshness_seconds=3.0,
    reads=500,
    fixed_rate_seconds=3.0,
    erasures=20,
    ledger_events=20_000,
    fanout_events=150,
    revocations=5,
    oneroster_students=500,
)
