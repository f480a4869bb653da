"""The benchmark suite `digione bench`: each measure beside a raw baseline of the same run,
judged by its goal (issue 14), in one table and in `$DATA_DIR/bench/latest.json`.

Speeds depend on the machine, the database and the broker, so they are never asserted in
tests; each is reported beside a bare baseline measured on the same server a moment apart:

- `trivial`: `GET /livez` of the server under test at `--clients` (32) closed-loop clients,
  and at a fixed open-loop 100 req/s: the baseline of every HTTP measure;
- `commands_http`: `POST /api/v1/assessments` at 32 closed-loop clients (≥ 0.5× trivial);
- `dashboard`, `oneroster_users`: the class dashboard, and a service's
  `GET …/rostering/v1p2/users?limit=100&filter=…` with its OAuth token: req/s at 32 clients
  (≥ 0.5× trivial) and p99 at a fixed 100 req/s (`*_p99_ms`: < 30 ms / < 50 ms);
- `freshness_p99_ms`: roster PUTs offered open-loop at 200/s; from each command's scheduled
  send until a read shows it (< 250 ms, every command answered and shown), beside the bare
  read of the same record;
- `erasure_p99_ms`: 100+ erasures; `requestedAt` → `allProjectionsConfirmedAt` of each
  receipt (server timestamps; < 1 s), beside the request's own answer;
- `commands_store`: assessments through the application by 32 concurrent committers, no
  HTTP, beside raw single-row INSERT + COMMIT at 32 connections (≥ 1.0×);
- `relay`: realistic stored events (sealed, keys per student) relayed through
  confluent-kafka, beside the bare confluent-kafka producer on the same messages (≥ 0.5×);
- `rebuild`: a roster read model rebuilt from the event store (`projections rebuild`'s
  default path) over 100,000+ realistic events, beside a raw batched insert of as many rows
  (≥ 0.3×); `rebuild_from_topics`: the same from the topics (for information);
- `ledger_verify`: `audit verify` beside a bare SHA-256 chain (for information);
- `fanout_in`, `fanout_out`, `revocation_p99_ms`: the service fan-out beside the relay on
  the same events, and revocation → fan-out stopped (bench/fanout.py; for information);
- `oneroster_import`: a city's OneRoster CSV bundle until it reads over REST, beside a raw
  batched insert (bench/oneroster_import.py; for information).

HTTP loads come from one asyncio client (bench/http_load.py), so the generator is never the
bottleneck; open-loop latencies run from each request's scheduled time. The server under
test is uvicorn in a process of its own running the runtime of `digione serve`, for the
run's HTTP tenant only. The broker is an embedded one started for the run unless
DIGIONE_KAFKA_BOOTSTRAP names one. Each measure works in fresh tenants (their own
PostgreSQL schemas), dropped at the end with every row kept for them in shared tables.

Adding a measure is registering one function that returns rows: see bench/measures.py.
`digione bench --only NAME…` runs a subset. bench/suite.py runs the measures, bench/report.py
prints the table and writes the files.

The suite sits outside the product: it may import `api`, `projections`, `streams` and
`domain`, and none of them imports it (the `digione bench` command imports it lazily).
"""

from __future__ import annotations

from bench.database import DEFAULT_DATABASE_URL
from bench.sizes import FULL, QUICK, Sizes
from bench.suite import UnknownMeasureError, run_benchmarks, selected_measures

__all__ = [
    "DEFAULT_DATABASE_URL",
    "FULL",
    "QUICK",
    "Sizes",
    "UnknownMeasureError",
    "run_benchmarks",
    "selected_measures",
]
