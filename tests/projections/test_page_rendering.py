"""When the class dashboard renders its stored pages (projections/class_dashboard.py): a batch
that batches of other partitions of the same poll follow leaves its classes' pages unstored
(reads of them read live, never a stale page), and the last batch of the poll renders them,
whatever that batch holds itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections import positions
from projections.base import ensure_current
from projections.class_dashboard import ClassDashboardProjection
from projections.class_dashboard_pages import StoredPage, render_page, stored_page
from projections.record_tables import event_type
from projections.roster import roster_type
from projections.runner import _ProjectionWorker
from streams import positions as relay_positions
from streams.codec import DecodedMessage, EventCodec, EventEnvelope
from streams.consumer import PartitionBatch, TenantPartition
from streams.schemas import default_registry

_TOPIC = "pages.assessment"
_NOW = datetime(2026, 9, 15, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_database_url"))
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        url = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    built = sa.create_engine(url)
    relay_positions.create_tables(built)
    yield built
    built.dispose()


@pytest.fixture
def worker(engine: Engine) -> Iterator[_ProjectionWorker]:
    projection = ClassDashboardProjection("p" + uuid.uuid4().hex[:8], clock=lambda: _NOW)
    ensure_current(engine, projection)
    yield _ProjectionWorker(
        engine=engine,
        projection=projection,
        codec=EventCodec(default_registry(), topic_prefix="pages", partitions=2),
        readers=_no_broker,
        client_id="page-rendering-test",
        topic_prefix="pages",
        tenant_ids=list,
        partitions=None,
        max_batch=100,
    )
    with engine.begin() as connection:
        projection.metadata.drop_all(connection)


def _no_broker(*_: Any, **__: Any) -> Any:
    raise AssertionError("these tests read no broker")


class _Partition:
    """One partition of the tenant's topic and the messages written to it."""

    def __init__(self, worker: _ProjectionWorker, tenant: str, number: int) -> None:
        self.worker = worker
        self.partition = TenantPartition(tenant, _TOPIC, number)
        self.offset = 0
        positions.ensure_partition(
            worker.engine,
            projection=worker.projection.name,
            tenant=tenant,
            topic=_TOPIC,
            partition=number,
        )

    def apply(self, *events: tuple[str, dict[str, Any]], more_follow: bool = False) -> None:
        messages = []
        from_beginning = self.offset == 0
        for event, payload in events:
            position = 1000 * self.partition.partition + self.offset + 1
            envelope = EventEnvelope(
                tenant=self.partition.tenant, position=position, event_type=event,
                aggregate_id=uuid.uuid4(), aggregate_version=1, occurred_at=_NOW,
                payload=payload, topic=_TOPIC, offset=self.offset,
            )  # fmt: skip
            aggregate = str(envelope.aggregate_id)
            messages.append(DecodedMessage(self.offset, position, aggregate, event, envelope))
            self.offset += 1
        self.worker.handle(
            PartitionBatch(self.partition, messages, from_beginning, None, more_follow=more_follow)
        )


def _class() -> tuple[str, dict[str, Any]]:
    return roster_type("class", "registered"), {
        "sourced_id": "cls-1", "title": "4A", "class_code": None, "class_type": "scheduled",
        "location": None, "grades": ["04"], "subjects": [], "subject_codes": ["MA"],
        "periods": [], "course": "course-1", "school": "school-1", "terms": [],
    }  # fmt: skip


def _enrolment(student: str) -> tuple[str, dict[str, Any]]:
    return roster_type("enrollment", "started"), {
        "sourced_id": f"enr-{student}", "school": "school-1", "role": "student",
        "primary": True, "begin_date": date(2026, 8, 1), "end_date": None, "user": student,
        "school_class": "cls-1",
    }  # fmt: skip


def _result(number: int, student: str) -> tuple[str, dict[str, Any]]:
    return event_type("assessment", "result", "recorded"), {
        "sourced_id": f"res-{number}", "student": student, "school_class": "cls-1",
        "line_item": None, "score": None, "grade": str(4 + number % 7),
        "score_status": "fully graded", "objectives": [], "assessed_at": date(2026, 9, 1),
        "assessor": "tch-1", "comment": None, "late": False,
    }  # fmt: skip


def _stored(worker: _ProjectionWorker, tenant: str) -> StoredPage | None:
    projection = worker.projection
    assert isinstance(projection, ClassDashboardProjection)
    with worker.engine.connect() as connection:
        return stored_page(connection, projection.pages, tenant=tenant, class_id="cls-1")


def _rendered_now(worker: _ProjectionWorker, tenant: str) -> StoredPage | None:
    projection = worker.projection
    assert isinstance(projection, ClassDashboardProjection)
    with worker.engine.connect() as connection:
        return render_page(
            connection,
            projection,
            tenant=tenant,
            class_id="cls-1",
            now=_NOW,
            curriculum=projection.curriculum,
        )


def test_a_batch_followed_by_others_of_its_poll_leaves_no_stale_page_and_the_last_renders_it(
    worker: _ProjectionWorker,
) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    first, second = _Partition(worker, tenant, 0), _Partition(worker, tenant, 1)
    first.apply(_class(), _enrolment("stu-1"), _enrolment("stu-2"), _result(1, "stu-1"))
    before = _stored(worker, tenant)

    first.apply(_result(2, "stu-2"), more_follow=True)
    while_others_follow = _stored(worker, tenant)
    second.apply(_result(3, "stu-1"))
    after = _stored(worker, tenant)

    assert before is not None
    assert while_others_follow is None
    assert after is not None and after != before
    assert after == _rendered_now(worker, tenant)


def test_the_last_batch_of_a_poll_renders_the_pages_left_even_when_it_changes_no_class(
    worker: _ProjectionWorker,
) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    first, second = _Partition(worker, tenant, 0), _Partition(worker, tenant, 1)
    first.apply(_class(), _enrolment("stu-1"))
    first.apply(_result(1, "stu-1"), more_follow=True)

    second.apply((event_type("assessment", "score_scale", "unknown"), {}))

    assert _stored(worker, tenant) == _rendered_now(worker, tenant)
    assert _stored(worker, tenant) is not None
