"""Section 7, ledger: `audit verify` over a tenant's stored events, beside a bare SHA-256
chain over the same bytes held in memory (no database), in the same run."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import Any

from eventsourcing.persistence import StoredEvent
from rich.progress import Progress

from api.bootstrap import Container
from domain.ledger import GENESIS, canonical_bytes

__all__ = ["measure_verify"]

#: Events recorded per transaction while the store is seeded.
_BATCH = 5_000
#: Bytes of each seeded event's state: about a sealed roster record's.
_STATE_BYTES = 400
_TOPIC = "domain.roster:Org.Registered"


def measure_verify(
    container: Container, tenant: str, *, events: int, progress: Progress
) -> dict[str, dict[str, Any]]:
    """Seeds a fresh tenant's store with `events` events (through the recorder, so the
    ledger is extended as a command extends it), then times `verify_ledger` and a bare
    SHA-256 chain over the same canonical bytes."""
    app = container.tenants.create(tenant, name="Benchmark ledger")
    seeding = progress.add_task("ledger: seeding the store", total=events)
    state = os.urandom(_STATE_BYTES)
    for start in range(0, events, _BATCH):
        batch = min(_BATCH, events - start)
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=uuid.uuid4(), originator_version=1, topic=_TOPIC, state=state
                )
                for _ in range(batch)
            ]
        )
        progress.advance(seeding, batch)
    task = progress.add_task("ledger: audit verify", total=events)
    began = time.perf_counter()
    report = app.verify_ledger(progress=lambda at, _head: progress.update(task, completed=at))
    verify_seconds = time.perf_counter() - began
    progress.update(task, completed=report.checked)
    if not report.ok:
        raise RuntimeError(f"the benchmark's own ledger failed to verify: {report.problem}")
    payloads = [canonical_bytes(row) for row in app.ledger.stored_rows(report.head_position)]
    began = time.perf_counter()
    digest = GENESIS
    for payload in payloads:
        digest = hashlib.sha256(digest + payload).digest()
    bare_seconds = time.perf_counter() - began
    if digest.hex() != report.head_hash:
        raise RuntimeError("the bare chain did not reach the ledger's head hash")
    return {
        "ledger_verify": {
            "count": report.checked,
            "seconds": round(verify_seconds, 4),
            "rate_per_s": round(report.checked / verify_seconds, 1) if verify_seconds else 0.0,
            "unit": "events/s",
        },
        "bare_sha256_chain": {
            "count": len(payloads),
            "seconds": round(bare_seconds, 4),
            "rate_per_s": round(len(payloads) / bare_seconds, 1) if bare_seconds else 0.0,
            "unit": "hashes/s",
        },
    }
