"""Rebuild: a projection rebuilt as `digione projections rebuild` does, beside a bare
batched insert.

`digione bench` calls `measure_rebuild_rate` (through `measure_rebuild`) with a fresh tenant
of its own. The tenant gets a roster of students (each registered, enrolled and corrected
once: three events of three kinds, personal data sealed under a key of the student's own;
bench/events.py), published to its topics as the relay publishes; then the roster
projection, under a name and tables of the benchmark's own, is rebuilt by the default path,
from the event store (projections/store_rebuild.py), timed from the reset until every event
is applied. The baseline inserts as many rows, shaped like read-model rows, in transactions
of the topic rebuild's batch size, on the same engine, a moment later. Then, for
information, the same projection is rebuilt from the beginning of the topics
(`--from-topics`). Rates are reported, never asserted: they depend on the machine.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from eventsourcing.domain import Aggregate
from rich.progress import Progress
from sqlalchemy.engine import Engine

from api.bootstrap import Container
from bench.events import save_sealed_roster
from domain.application import TenantApplication
from projections import positions
from projections.admin import REBUILD_BATCH, ProjectionAdmin
from projections.roster import RosterProjection
from streams import positions as relay_positions
from streams.codec import EventCodec
from streams.event_types import FAMILIES
from streams.kafka_transport import ConfluentKafkaTransport, ensure_topics
from streams.schemas import default_registry

__all__ = ["RebuildBenchmark", "measure_rebuild", "measure_rebuild_rate"]

_PARTITIONS = 3
_PUBLISH_CHUNK = 5000


@dataclass(frozen=True)
class RebuildBenchmark:
    """A rebuild's rate beside the bare insert rate of the same database and run."""

    events: int
    rebuild_seconds: float
    rebuild_events_per_s: float
    insert_rows: int
    insert_seconds: float
    insert_rows_per_s: float
    #: The same rebuild from the topics (`--from-topics`), when measured.
    topics_seconds: float | None = None
    topics_events_per_s: float | None = None

    @property
    def ratio(self) -> float:
        """The rebuild rate as a fraction of the bare insert rate."""
        return self.rebuild_events_per_s / self.insert_rows_per_s if self.insert_rows_per_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def measure_rebuild_rate(
    *,
    engine: Engine,
    app: TenantApplication,
    bootstrap: str,
    topic_prefix: str,
    students: int = 1000,
    from_topics: bool = True,
) -> RebuildBenchmark:
    """Seeds `app`'s (fresh) tenant with 3 × `students` + 2 events, publishes them, then
    times a rebuild (from the store) of a roster projection of the benchmark's own, a bare
    insert and, with `from_topics`, the same rebuild from the topics."""
    tenant = app.tenant
    events = _seed(app, students)
    _publish(app, engine, bootstrap, topic_prefix)
    projection = RosterProjection(name="bench_" + uuid.uuid4().hex[:8])
    admin = ProjectionAdmin(
        engine=engine,
        projections=[projection],
        codec=EventCodec(default_registry(), topic_prefix=topic_prefix, partitions=_PARTITIONS),
        bootstrap=bootstrap,
        topic_prefix=topic_prefix,
        tenant_ids=lambda: [tenant],
        head_position=lambda _: app.head_position(),
        stores=lambda _: app,
    )
    topics_seconds: float | None = None
    try:
        report = admin.rebuild(projection)
        if report.tenants[tenant][0] != app.head_position():
            raise RuntimeError(f"the rebuild reached {report.tenants[tenant]}, not the head")
        insert_seconds = _bare_insert_seconds(engine, rows=events, batch=REBUILD_BATCH)
        if from_topics:
            topics_seconds = admin.rebuild(projection, from_topics=True).seconds
    finally:
        _drop(engine, projection, tenant)
    return RebuildBenchmark(
        events=events,
        rebuild_seconds=round(report.seconds, 4),
        rebuild_events_per_s=round(events / report.seconds, 1),
        insert_rows=events,
        insert_seconds=round(insert_seconds, 4),
        insert_rows_per_s=round(events / insert_seconds, 1),
        topics_seconds=None if topics_seconds is None else round(topics_seconds, 4),
        topics_events_per_s=None if topics_seconds is None else round(events / topics_seconds, 1),
    )


def measure_rebuild(
    container: Container, tenant: str, *, bootstrap: str, students: int, progress: Progress
) -> RebuildBenchmark:
    """A roster read model rebuilt from the store (and from its topics), and as many rows
    inserted in batches."""
    events = 2 + 3 * students
    task = progress.add_task(f"roster rebuild and bare insert, {events:,} events", total=1)
    app = container.tenants.create(tenant, name="Benchmark rebuild")
    measured = measure_rebuild_rate(
        engine=container.engine,
        app=app,
        bootstrap=bootstrap,
        topic_prefix=f"digionebench{uuid.uuid4().hex[:8]}",
        students=students,
    )
    progress.advance(task)
    return measured


def _seed(app: TenantApplication, students: int) -> int:
    """Records a school, a class and `students` students with sealed personal data, each
    enrolled and corrected (bench/events.py); returns how many events that is."""
    return save_sealed_roster(app, students=students)


def _publish(app: TenantApplication, engine: Engine, bootstrap: str, topic_prefix: str) -> None:
    """Publishes the tenant's store as the relay does, recording what was acknowledged."""
    tenant = app.tenant
    codec = EventCodec(default_registry(), topic_prefix=topic_prefix, partitions=_PARTITIONS)
    ensure_topics(
        bootstrap, [f"{topic_prefix}.{tenant}.{family}.v1" for family in FAMILIES], _PARTITIONS
    )
    relay_positions.create_tables(engine)
    last_sent: dict[tuple[str, int], int] = {}
    after = 0
    with ConfluentKafkaTransport(bootstrap, client_id="digione-bench-rebuild") as transport:
        while notifications := app.recorder.select_notifications(after + 1, _PUBLISH_CHUNK):
            messages = [
                codec.encode(tenant, n.id, cast(Aggregate.Event, app.mapper.to_domain_event(n)))
                for n in notifications
            ]
            transport.publish(messages)
            for n, message in zip(notifications, messages, strict=True):
                assert message.partition is not None
                last_sent[(message.topic, message.partition)] = n.id
            after = notifications[-1].id
            with engine.begin() as connection:
                relay_positions.record_published(connection, tenant, after, last_sent)


def _bare_insert_seconds(engine: Engine, *, rows: int, batch: int) -> float:
    """Seconds to insert `rows` read-model-shaped rows, `batch` per transaction."""
    table = sa.Table(
        "bench_bare_insert_" + uuid.uuid4().hex[:8],
        sa.MetaData(),
        sa.Column("tenant", sa.String(32), primary_key=True),
        sa.Column("sourced_id", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("date_last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("personal", sa.JSON, nullable=False),
    )
    now = datetime.now(UTC)
    sealed = {
        "subject": str(uuid.uuid4()),
        "retention": "working",
        "nonce": "A" * 16,
        "ciphertext": "B" * 96,
    }
    values = [
        {
            "tenant": "bench",
            "sourced_id": f"row-{i}",
            "status": "active",
            "date_last_modified": now,
            "aggregate_id": str(uuid.uuid4()),
            "personal": sealed,
        }
        for i in range(rows)
    ]
    table.create(engine)
    try:
        started = time.perf_counter()
        for start in range(0, rows, batch):
            with engine.begin() as connection:
                connection.execute(table.insert(), values[start : start + batch])
        return time.perf_counter() - started
    finally:
        table.drop(engine)


def _drop(engine: Engine, projection: RosterProjection, tenant: str) -> None:
    with engine.begin() as connection:
        projection.metadata.drop_all(connection)
        for table in (
            positions.projection_positions,
            positions.projection_parked,
            positions.projection_versions,
        ):
            connection.execute(table.delete().where(table.c.projection == projection.name))
        for table in (relay_positions.relay_positions, relay_positions.relay_partition_positions):
            connection.execute(table.delete().where(table.c.tenant == tenant))
