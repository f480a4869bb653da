"""The benchmark suite `digione bench`: each rate beside a raw baseline measured in the same run.

Speeds depend on the machine, the database and the broker, so they are never asserted; each
is reported as a ratio to what a bare baseline does on the same server a moment apart:

1. commands: `POST /api/v1/assessments` through the real HTTP server (uvicorn in a process
   of its own, running the whole runtime as `digione serve` does) from concurrent
   keep-alive clients, beside raw INSERT + COMMIT of rows shaped like stored events, from
   one connection and from as many connections as there are clients (bench/commands.py);
2. relay: stored events per second acknowledged by the broker, through kafka-python and
   through confluent-kafka, beside the bare producer of each (bench/relay.py,
   bench/transport.py);
3. rebuild: a roster read model rebuilt from the beginning of its topics, beside a bare
   batched insert into the same database (bench/rebuild.py);
4. freshness: roster PUTs of users at a steady rate on the same server; for each, the time
   from the command's 2xx answer until a read shows it (`GET …?min_position=<position>`),
   beside the same read without `min_position`, made at once after it. A server that cannot
   keep up with the rate shows as a lower achieved rate and as commands not sent
   (bench/freshness.py);
5. dashboard: class dashboard reads beside a trivial endpoint of the same server
   (bench/dashboard.py);
6. erasure: from the request until every projection confirmed it, beside the request's
   own answer (bench/erasure.py);
7. fan-out: events in and deliveries out per second for ten services with different
   agreements, beside the relay's rate on the same events, and the consent revocation-to-stop
   latency beside the revoke command's own time (bench/fanout.py).

The broker is an embedded one started for the run unless DIGIONE_KAFKA_BOOTSTRAP names one.
Each section uses a fresh tenant (its own PostgreSQL schema); at the end the tenants are
dropped with their registry rows and every row kept for them in shared tables (relay and
projection positions, read models, disclosures), so runs never see each other's data
(bench/suite.py runs the sections, bench/report.py writes the report).

The suite sits outside the product: it may import `api`, `projections`, `streams` and
`domain`, and none of them imports it (the `digione bench` command imports it lazily).
"""

from __future__ import annotations

from bench.database import DEFAULT_DATABASE_URL
from bench.sizes import FULL, QUICK, Sizes
from bench.suite import run_benchmarks

__all__ = ["DEFAULT_DATABASE_URL", "FULL", "QUICK", "Sizes", "run_benchmarks"]
