"""A batch applied with its writes held and flushed together leaves the read model exactly
as its events applied one at a time do, parked messages included (projections/batch_writes.py).

Events are generated (hypothesis) over a few users, enrollments, classes and results:
creations, changes through the record kit, changes by handlers of their own SQL, results
whose current one is settled at the flush, and events the one-at-a-time runner parks (a
record created twice, a change of a record never created), into the roster, the guardian
view and the class dashboard (its students' cards and stored pages).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from projections import erasure, positions
from projections.base import Projection, ensure_current
from projections.class_dashboard import LEAVE_PAGES_BACKLOG, ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.record_tables import event_type, utc
from projections.roster import RosterProjection, roster_type
from projections.runner import _ProjectionWorker
from projections.sealed import sealed_record
from projections.statistics import GrowthSchedule
from streams.codec import DecodedMessage, EventCodec, EventEnvelope
from streams.consumer import PartitionBatch, TenantPartition
from streams.schemas import default_registry
from tests.projections.read_models import backend_engine, read_model
from tests.statements import statements_on

_TOPIC = "batched.roster"
_SCHOOL = "school-1"
#: The instant the class dashboard renders its pages at, the same for both ways of applying.
_NOW = datetime(2026, 9, 15, 12, tzinfo=UTC)


def _class_dashboard(*, name: str) -> ClassDashboardProjection:
    return ClassDashboardProjection(name, clock=lambda: _NOW)


_PROJECTIONS: list[Callable[..., Projection]] = [
    RosterProjection,
    GuardianViewProjection,
    _class_dashboard,
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    built = backend_engine(request, tmp_path_factory.mktemp("batched"))
    yield built
    built.dispose()


@pytest.fixture(scope="module")
def workers(engine: Engine) -> Iterator[list[tuple[_ProjectionWorker, _ProjectionWorker]]]:
    """Per projection (the roster, the guardian view, the class dashboard), one applied in batches with held
    writes and one applied one message per transaction writing as it goes."""

    def worker(kind: Callable[..., Projection], batched: bool) -> _ProjectionWorker:
        projection = kind(name="b" + uuid.uuid4().hex[:8])
        ensure_current(engine, projection)
        return _ProjectionWorker(
            engine=engine,
            projection=projection,
            codec=EventCodec(default_registry(), topic_prefix="batched", partitions=1),
            readers=_no_broker,
            client_id="batched-apply-test",
            topic_prefix="batched",
            tenant_ids=list,
            partitions=None,
            max_batch=1000,
            statistics=GrowthSchedule(),
            batched_writes=batched,
        )

    built = [(worker(kind, True), worker(kind, False)) for kind in _PROJECTIONS]
    yield built
    with engine.begin() as connection:
        for pair in built:
            for w in pair:
                w.projection.metadata.drop_all(connection)


def _no_broker(*_: Any, **__: Any) -> Any:
    raise AssertionError("these tests read no broker")


# -- generated events ------------------------------------------------------------------------

_USERS = [uuid.UUID(int=100 + i) for i in range(3)]
_ENROLLMENTS = [uuid.UUID(int=200 + i) for i in range(2)]
_CLASSES = [uuid.UUID(int=300 + i) for i in range(2)]


def _role(org: str) -> dict[str, Any]:
    return {"role_type": "primary", "role": "student", "org": org, "begin_date": None,
            "end_date": None}  # fmt: skip


def _sealed(subject: uuid.UUID, text: str) -> dict[str, Any]:
    return {"subject": str(subject), "retention": "working", "nonce": b"n" * 12,
            "ciphertext": text.encode()}  # fmt: skip


def _user_event(kind: str, n: int, variant: int) -> tuple[str, uuid.UUID, dict[str, Any]]:
    agg = _USERS[n]
    if kind == "registered":
        # Variant 2 takes another user's sourcedId: its row's key is taken.
        sourced = f"user-{(n + 1) % len(_USERS) if variant == 2 else n}"
        return roster_type("user", "registered"), agg, {
            "sourced_id": sourced, "enabled": variant != 1, "primary_org": _SCHOOL,
            "grades": [f"0{variant}"], "roles": [_role(_SCHOOL)],
            "personal": _sealed(agg, f"name {variant}"),
        }  # fmt: skip
    if kind == "corrected":
        return (
            roster_type("user", "personal_details_corrected"),
            agg,
            {"personal": _sealed(agg, f"corrected {variant}")},
        )
    if kind == "role_assigned":
        return roster_type("user", "role_assigned"), agg, {"role": _role(f"org-{variant}")}
    if kind == "placement":
        return roster_type("user", "placement_changed"), agg, {
            "primary_org": f"org-{variant}", "grades": [str(variant)]
        }  # fmt: skip
    if kind in ("guardian_linked", "guardian_unlinked"):
        # The same guardian linked twice: its row's key is taken.
        return roster_type("user", kind), agg, {"guardian": f"guardian-{variant}"}
    return roster_type("user", kind), agg, {}


def _enrollment_event(kind: str, n: int, variant: int) -> tuple[str, uuid.UUID, dict[str, Any]]:
    agg = _ENROLLMENTS[n]
    if kind == "started":
        return roster_type("enrollment", "started"), agg, {
            "sourced_id": f"enr-{n}", "school": _SCHOOL, "role": "student",
            "primary": variant == 1, "begin_date": date(2026, 8, 1 + variant), "end_date": None,
            "user": f"user-{n}", "school_class": f"class-{n}",
        }  # fmt: skip
    if kind == "ended":
        return roster_type("enrollment", "ended"), agg, {"end_date": date(2027, 5, 30)}
    return roster_type("enrollment", kind), agg, {}


def _class_event(kind: str, n: int, variant: int) -> tuple[str, uuid.UUID, dict[str, Any]]:
    agg = _CLASSES[n]
    details = {
        "title": f"Class {variant}", "class_code": None, "class_type": "scheduled",
        "location": None, "grades": ["04"], "subjects": [], "subject_codes": ["MA"],
        "periods": [],
    }  # fmt: skip
    if kind == "registered":
        return roster_type("class", "registered"), agg, {
            **details, "sourced_id": f"class-{n}", "course": "course-1", "school": _SCHOOL,
            "terms": [f"term-{variant}", "term-x"],
        }  # fmt: skip
    if kind == "terms_changed":
        return roster_type("class", "terms_changed"), agg, {"terms": [f"term-{variant}"]}
    return roster_type("class", "details_corrected"), agg, details


_RESULTS = [uuid.UUID(int=400 + i) for i in range(3)]


def _result_event(kind: str, n: int, variant: int) -> tuple[str, uuid.UUID, dict[str, Any]]:
    agg = _RESULTS[n]
    if kind == "recorded":
        # Results 0 and 1 may be of the same (student, line item): one of them is current.
        return event_type("assessment", "result", "recorded"), agg, {
            "sourced_id": f"result-{n}", "student": f"user-{min(n, 1)}",
            "school_class": f"class-{min(n, 1)}", "line_item": [None, "li-0", "li-1"][variant],
            "score": float(variant), "grade": str(6 + variant), "score_status": "fully graded",
            "objectives": [], "assessed_at": date(2026, 9, 1 + variant), "assessor": "teacher-1",
            "comment": None, "late": variant == 2,
        }  # fmt: skip
    if kind == "corrected":
        return event_type("assessment", "result", "corrected"), agg, {
            "score": None, "grade": str(4 + variant), "score_status": "exempt",
            "objectives": ["MA-1"], "assessed_at": date(2026, 9, 10 + variant),
            "assessor": "teacher-2", "comment": None, "late": False,
        }  # fmt: skip
    return event_type("assessment", "result", kind), agg, {}


_EVENTS = st.one_of(
    st.tuples(
        st.just(_user_event),
        st.sampled_from(
            [
                "registered",
                "registered",
                "corrected",
                "role_assigned",
                "placement",
                "enabled",
                "disabled",
                "marked_for_deletion",
                "reactivated",
                "guardian_linked",
                "guardian_linked",
                "guardian_unlinked",
            ]
        ),
        st.integers(0, len(_USERS) - 1),
    ),
    st.tuples(
        st.just(_enrollment_event),
        st.sampled_from(["started", "started", "ended", "marked_for_deletion"]),
        st.integers(0, len(_ENROLLMENTS) - 1),
    ),
    st.tuples(
        st.just(_class_event),
        st.sampled_from(["registered", "terms_changed", "details_corrected"]),
        st.integers(0, len(_CLASSES) - 1),
    ),
    st.tuples(
        st.just(_result_event),
        st.sampled_from(
            ["recorded", "recorded", "recorded", "corrected", "marked_for_deletion", "reactivated"]
        ),
        st.integers(0, len(_RESULTS) - 1),
    ),
)


def _messages(tenant: str, drawn: Sequence[tuple[Any, str, int, int]]) -> list[DecodedMessage]:
    start = datetime(2026, 8, 1, tzinfo=UTC)
    messages = []
    for offset, (build, kind, n, variant) in enumerate(drawn):
        event_type, agg, payload = build(kind, n, variant)
        envelope = EventEnvelope(
            tenant=tenant, position=offset + 1, event_type=event_type, aggregate_id=agg,
            aggregate_version=offset + 1, occurred_at=start + timedelta(minutes=offset),
            payload=payload, topic=_TOPIC, offset=offset,
        )  # fmt: skip
        messages.append(DecodedMessage(offset, offset + 1, str(agg), event_type, envelope))
    return messages


def _apply(
    worker: _ProjectionWorker,
    tenant: str,
    batches: list[list[DecodedMessage]],
    *,
    backlog: int = 0,
) -> None:
    """Applies the batches in turn; each but the last with `backlog` messages behind it."""
    partition = TenantPartition(tenant, _TOPIC, 0)
    positions.ensure_partition(
        worker.engine, projection=worker.projection.name, tenant=tenant, topic=_TOPIC,
        partition=0,
    )  # fmt: skip
    for number, messages in enumerate(batches):
        behind = backlog if number < len(batches) - 1 else 0
        worker.handle(PartitionBatch(partition, messages, number == 0, None, behind))


def _parked(engine: Engine, projection: str, tenant: str) -> list[tuple[int | None, str | None]]:
    with engine.connect() as connection:
        parked = positions.parked_messages(connection, projection=projection)
    return [(p.position, p.event_type) for p in parked if p.tenant == tenant]


def _chunks(messages: list[DecodedMessage], sizes: list[int]) -> list[list[DecodedMessage]]:
    chunks, start = [], 0
    for size in sizes:
        if start < len(messages):
            chunks.append(messages[start : start + size])
            start += size
    if start < len(messages):
        chunks.append(messages[start:])
    return chunks


#: Each property test's examples: a few, on fixtures shared by the module.
_EXAMPLES = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Up to 24 generated events (each with a variant) and the sizes of the batches they come in.
_DRAWN = given(
    drawn=st.lists(
        st.tuples(_EVENTS, st.integers(0, 2)).map(lambda x: (*x[0], x[1])),
        min_size=1,
        max_size=24,
    ),
    sizes=st.lists(st.integers(1, 24), max_size=4),
)


@pytest.mark.parametrize(
    "backlog", [0, LEAVE_PAGES_BACKLOG], ids=["caught up", "pages left to the last batch"]
)
@_EXAMPLES
@_DRAWN
def test_a_batch_applied_with_held_writes_equals_its_events_applied_one_at_a_time(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
    drawn: list[tuple[Any, str, int, int]],
    sizes: list[int],
    backlog: int,
) -> None:
    """Also with a backlog behind every batch but the last: those leave the class
    dashboard's pages to the batch that catches up, which renders them, and the read
    model, pages included, is then the one the events applied one at a time leave."""
    tenant = "t" + uuid.uuid4().hex[:10]
    messages = _messages(tenant, drawn)

    _apply_both_ways(
        workers, tenant, messages, _chunks(messages, sizes or [len(messages)]), backlog=backlog
    )


@_EXAMPLES
@_DRAWN
def test_the_batches_of_one_poll_applied_together_equal_their_events_applied_one_at_a_time(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
    drawn: list[tuple[Any, str, int, int]],
    sizes: list[int],
) -> None:
    """Events spread over two partitions by aggregate, as the relay's producer spreads
    them; each poll's batches (one per partition) applied in one transaction leave what
    the same events applied one at a time, in the order the poll applies them, leave."""
    tenant = "t" + uuid.uuid4().hex[:10]
    polls = [_by_partition(tenant, chunk) for chunk in _chunks(_messages(tenant, drawn), sizes)]
    _numbered_per_partition(polls)
    own = _own_aggregates()
    polls = [[own(batch) for batch in polled] for polled in polls]
    partitions = {batch.partition for polled in polls for batch in polled}

    for batched, one_at_a_time in workers:
        for worker in (batched, one_at_a_time):
            for partition in partitions:
                positions.ensure_partition(
                    worker.engine, projection=worker.projection.name, tenant=tenant,
                    topic=partition.topic, partition=partition.partition,
                )  # fmt: skip
        for polled in polls:
            assert batched.handle_polled(polled) == [None] * len(polled)
            for batch in polled:
                for m in batch.messages:
                    one_at_a_time.handle(dataclasses.replace(batch, messages=[m]))
                    batch = dataclasses.replace(batch, from_beginning=False)

    for batched, one_at_a_time in workers:
        engine = batched.engine
        assert _read_model(engine, batched, tenant) == _read_model(engine, one_at_a_time, tenant)
        assert _parked(engine, batched.projection.name, tenant) == _parked(
            engine, one_at_a_time.projection.name, tenant
        )
        for partition in partitions:
            assert _position(batched, partition) == _position(one_at_a_time, partition)


def _position(worker: _ProjectionWorker, partition: TenantPartition) -> object:
    with worker.engine.connect() as connection:
        return positions.read_partition(
            connection, projection=worker.projection.name, tenant=partition.tenant,
            topic=partition.topic, partition=partition.partition,
        )  # fmt: skip


def _by_partition(tenant: str, messages: list[DecodedMessage]) -> list[PartitionBatch]:
    """One poll's batches: the messages of each of two partitions (by aggregate id), in
    the order the runner locks their partitions."""
    spread: dict[int, list[DecodedMessage]] = {}
    for m in messages:
        spread.setdefault(uuid.UUID(str(m.aggregate_id)).int % 2, []).append(m)
    return [
        PartitionBatch(TenantPartition(tenant, _TOPIC, number), spread[number], False, None)
        for number in sorted(spread)
    ]


def _numbered_per_partition(polls: list[list[PartitionBatch]]) -> None:
    """Gives the messages their offsets in their own partition, in place; a partition's
    first batch reads it from its beginning."""
    next_offset: dict[int, int] = {}
    for polled in polls:
        for index, batch in enumerate(polled):
            number = batch.partition.partition
            first = next_offset.get(number, 0)
            messages = [
                dataclasses.replace(m, offset=first + k) for k, m in enumerate(batch.messages)
            ]
            next_offset[number] = first + len(messages)
            polled[index] = dataclasses.replace(batch, messages=messages, from_beginning=first == 0)


def _own_aggregates() -> Callable[[PartitionBatch], PartitionBatch]:
    """Gives a batch's messages aggregates of the example's own (an aggregate id has one
    row in a read model, whatever the tenant: what an example leaves in the module's
    tables then never decides what another parks)."""
    own: dict[str, uuid.UUID] = {}

    def renamed(m: DecodedMessage) -> DecodedMessage:
        assert m.envelope is not None and m.aggregate_id is not None
        aggregate = own.setdefault(m.aggregate_id, uuid.uuid4())
        envelope = dataclasses.replace(m.envelope, aggregate_id=aggregate)
        return dataclasses.replace(m, aggregate_id=str(aggregate), envelope=envelope)

    return lambda batch: dataclasses.replace(batch, messages=[renamed(m) for m in batch.messages])


def _apply_both_ways(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
    tenant: str,
    messages: list[DecodedMessage],
    batches: list[list[DecodedMessage]],
    *,
    backlog: int = 0,
) -> None:
    """Applies `batches` with held writes (each but the last with `backlog` behind it) and
    `messages` one at a time; asserts that both ways leave the same read model and park
    the same messages, in every projection."""
    for batched, one_at_a_time in workers:
        _apply(batched, tenant, batches, backlog=backlog)
        _apply(one_at_a_time, tenant, [[m] for m in messages])

    for batched, one_at_a_time in workers:
        engine = batched.engine
        assert _read_model(engine, batched, tenant) == _read_model(engine, one_at_a_time, tenant)
        assert _parked(engine, batched.projection.name, tenant) == _parked(
            engine, one_at_a_time.projection.name, tenant
        )


def _read_model(engine: Engine, worker: _ProjectionWorker, tenant: str) -> dict[str, Any]:
    """Every row of the tenant in every table of the projection, by table (name unprefixed)."""
    projection = worker.projection
    if isinstance(projection, RosterProjection):
        return read_model(engine, projection, tenant)
    found: dict[str, Any] = {}
    with engine.connect() as connection:
        for table in projection.metadata.sorted_tables:
            if "tenant" in table.c:
                rows = connection.execute(sa.select(table).where(table.c.tenant == tenant))
                found[table.name.removeprefix(projection.name)] = sorted(
                    repr(sorted(r._mapping.items())) for r in rows
                )
    return found


def _erasure_of_user(n: int) -> tuple[str, uuid.UUID, dict[str, Any]]:
    return erasure.ERASED, uuid.uuid4(), {"subject": f"user-{n}", "shredded": ["working"]}


@pytest.mark.parametrize("last", ["unhandled", "another class"])
def test_pages_a_backlog_left_are_rendered_by_the_batch_that_catches_up_whatever_it_holds(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]], last: str
) -> None:
    """Thirty classes registered in a batch with a backlog behind it: their pages are left
    to a later batch, holding for no read (reads are live meanwhile). The batch that
    catches up holds one event the class dashboard does not handle, or another class's
    registration, and renders each left page as the events applied one at a time do
    (more than the 20 pages past their time a batch renders besides its own)."""
    from projections.class_dashboard_pages import LEFT

    tenant = "t" + uuid.uuid4().hex[:10]
    _, one_class, payload = _class_event("registered", 0, 0)

    def registered(k: int) -> Callable[..., tuple[str, uuid.UUID, dict[str, Any]]]:
        return lambda *_: (
            roster_type("class", "registered"),
            uuid.uuid4(),
            {**payload, "sourced_id": f"c-{k}"},
        )

    def unhandled(*_: Any) -> tuple[str, uuid.UUID, dict[str, Any]]:
        return "fi.digione.test.unhandled.v1", one_class, {}

    final = (unhandled if last == "unhandled" else registered(30), "", 0, 0)
    messages = _messages(tenant, [(registered(k), "", 0, 0) for k in range(30)] + [final])
    batched, one_at_a_time = next(
        pair for pair in workers if isinstance(pair[0].projection, ClassDashboardProjection)
    )
    projection = cast(ClassDashboardProjection, batched.projection)

    partition = TenantPartition(tenant, _TOPIC, 0)
    positions.ensure_partition(
        batched.engine, projection=projection.name, tenant=tenant, topic=_TOPIC, partition=0
    )
    batched.handle(PartitionBatch(partition, messages[:30], True, None, LEAVE_PAGES_BACKLOG))
    with batched.engine.connect() as connection:
        left = connection.execute(
            sa.select(projection.pages.c.template, projection.pages.c.valid_until).where(
                projection.pages.c.tenant == tenant
            )
        ).all()
    assert len(left) == 30
    assert all(bytes(template) == b"" and utc(until) == LEFT for template, until in left)

    batched.handle(PartitionBatch(partition, messages[30:], False, None))
    _apply(one_at_a_time, tenant, [[m] for m in messages])

    pages = _read_model(batched.engine, batched, tenant)["_pages"]
    assert len(pages) == (30 if last == "unhandled" else 31)
    assert pages == _read_model(one_at_a_time.engine, one_at_a_time, tenant)["_pages"]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one at a time"])
def test_a_correction_applied_after_its_subjects_erasure_stays_blank(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]], batched: bool
) -> None:
    """A rebuild from the topics may apply an erasure before a correction it followed in
    the store: the corrected value is blanked as it is written; another user's is not."""
    tenant = "t" + uuid.uuid4().hex[:10]
    # Aggregates of their own: a user's aggregate id has one row in a read model.
    users = [uuid.uuid4() for _ in range(2)]

    def of(n: int, event: tuple[str, uuid.UUID, dict[str, Any]]) -> Any:
        event_type, _, payload = event
        return event_type, users[n], payload

    drawn = [
        of(0, _user_event("registered", 0, 0)),
        of(1, _user_event("registered", 1, 0)),
        _erasure_of_user(0),
        of(0, _user_event("corrected", 0, 1)),
        of(1, _user_event("corrected", 1, 1)),
    ]
    messages = _messages(tenant, [(lambda *_, d=d: d, "", 0, 0) for d in drawn])
    for pair in workers:
        worker = pair[0] if batched else pair[1]
        _apply(worker, tenant, [messages] if batched else [[m] for m in messages])
        personal = _personal_by_user(worker, tenant)
        assert personal["user-0"] == {"retention": "working", erasure.BLANK_MARKER: True}
        assert personal["user-1"] == sealed_record(_sealed(_USERS[1], "corrected 1"))


def _personal_by_user(worker: _ProjectionWorker, tenant: str) -> dict[str, Any]:
    """The personal value of each user's row in the projection's table of users."""
    table = next(
        t
        for t in worker.projection.metadata.sorted_tables
        if t.name.endswith("_users") and "personal" in t.c
    )
    with worker.engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.sourced_id, table.c.personal).where(table.c.tenant == tenant)
        )
        return {str(sourced_id): personal for sourced_id, personal in rows}


def _messages_of_own(
    tenant: str,
    build: Callable[[str, int, int], tuple[str, uuid.UUID, dict[str, Any]]],
    count: int,
    events: Sequence[tuple[str, int, int]],
) -> list[DecodedMessage]:
    """The messages of `build`'s events (`_user_event`, `_result_event`; each a kind, an
    aggregate's number and a variant) about `count` aggregates of the test's own (an
    aggregate id has one row in a read model)."""
    aggregates = [uuid.uuid4() for _ in range(count)]

    def own(kind: str, n: int, variant: int) -> tuple[str, uuid.UUID, dict[str, Any]]:
        event_type, _, payload = build(kind, n, variant)
        return event_type, aggregates[n], payload

    return _messages(tenant, [(own, kind, n, variant) for kind, n, variant in events])


def test_a_correction_held_by_its_batch_and_later_changes_of_the_record_land_as_one_at_a_time(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
) -> None:
    """A correction of a record created in an earlier batch is held to the batch's flush;
    a later change of the same record in the batch (another column, a later
    dateLastModified) and a second correction come out as they do one at a time."""
    tenant = "t" + uuid.uuid4().hex[:10]
    messages = _messages_of_own(
        tenant,
        _user_event,
        3,
        [
            ("registered", 0, 0),
            ("registered", 1, 0),
            ("corrected", 0, 1),
            ("placement", 0, 2),
            ("corrected", 1, 1),
            ("corrected", 1, 2),
            ("corrected", 2, 1),  # of a user never registered: parked
        ],
    )

    # The parked one in a batch of its own: a batch that fails is applied one at a time.
    _apply_both_ways(workers, tenant, messages, [messages[:2], messages[2:6], messages[6:]])

    for batched, _ in workers:
        assert [event for _, event in _parked(batched.engine, batched.projection.name, tenant)] == [
            roster_type("user", "personal_details_corrected")
        ]
    roster = workers[0][0]
    assert _personal_by_user(roster, tenant) == {
        "user-0": sealed_record(_sealed(_USERS[0], "corrected 1")),
        "user-1": sealed_record(_sealed(_USERS[1], "corrected 2")),
    }


def test_the_current_results_settled_at_a_batchs_flush_are_those_of_one_at_a_time(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
) -> None:
    """Results 1 and 2 are of one (student, line item), result 0 of another: the batch
    settles which is current for both pairs at its flush, in one statement. The later of
    two results is current; marked for deletion, the earlier one is again; reactivated in
    a later batch, the later one is once more; as one at a time, in every projection."""
    tenant = "t" + uuid.uuid4().hex[:10]
    # Variant 1: each of line item li-0.
    messages = _messages_of_own(
        tenant,
        _result_event,
        3,
        [
            ("recorded", 0, 1),
            ("recorded", 1, 1),
            ("recorded", 2, 1),
            ("marked_for_deletion", 2, 1),
            ("reactivated", 2, 1),
        ],
    )

    _apply_both_ways(workers, tenant, messages[:4], [messages[:4]])
    assert _current_results(workers, tenant) == {"result-0", "result-1"}
    _apply_both_ways(workers, tenant, messages[4:], [messages[4:]])
    assert _current_results(workers, tenant) == {"result-0", "result-2"}


def _current_results(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]], tenant: str
) -> set[str]:
    """The current results of the tenant, the same in every projection that keeps results."""
    found = []
    for batched, _ in workers:
        results = batched.projection.metadata.tables.get(f"{batched.projection.name}_results")
        if results is None:
            continue
        with batched.engine.connect() as connection:
            found.append(
                set(
                    connection.execute(
                        sa.select(results.c.sourced_id).where(
                            results.c.tenant == tenant, results.c.current
                        )
                    ).scalars()
                )
            )
    # The roster's OneRoster results, the guardian view's and the class dashboard's.
    assert len(found) == 3 and all(f == found[0] for f in found), found
    return found[0]


def test_guardians_linked_in_the_batch_that_registers_the_user_land_as_one_at_a_time(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
) -> None:
    """Two guardians linked to a user registered in the same batch are both its agents,
    in the roster and the guardian view; the first linked again later is refused (its
    row's key is taken) and parked; as one at a time."""
    tenant = "t" + uuid.uuid4().hex[:10]
    messages = _messages_of_own(
        tenant,
        _user_event,
        2,
        [
            ("registered", 0, 0),
            ("guardian_linked", 0, 0),
            ("registered", 1, 0),
            ("guardian_linked", 0, 1),
            ("guardian_linked", 1, 1),
            ("guardian_linked", 0, 0),  # linked already: parked
        ],
    )

    # The parked one in a batch of its own: a batch that fails is applied one at a time.
    _apply_both_ways(workers, tenant, messages, [messages[:5], messages[5:]])

    roster, guardian_view = workers[0][0], workers[1][0]
    with roster.engine.connect() as connection:
        users_table = roster.projection.tables.users  # type: ignore[attr-defined]
        agents: dict[str, list[str]] = dict(
            connection.execute(
                sa.select(users_table.c.sourced_id, users_table.c.agents).where(
                    users_table.c.tenant == tenant
                )
            ).all()
        )
        links = guardian_view.projection.guardian_links  # type: ignore[attr-defined]
        linked = set(
            connection.execute(
                sa.select(links.c.student, links.c.guardian).where(links.c.tenant == tenant)
            ).all()
        )
    assert agents == {"user-0": ["guardian-0", "guardian-1"], "user-1": ["guardian-1"]}
    assert linked == {("user-0", "guardian-0"), ("user-0", "guardian-1"), ("user-1", "guardian-1")}
    for batched, _ in workers[:2]:
        assert [event for _, event in _parked(batched.engine, batched.projection.name, tenant)] == [
            roster_type("user", "guardian_linked")
        ]


def test_a_polls_batches_leave_each_partition_at_its_highest_position_and_next_offset(
    workers: list[tuple[_ProjectionWorker, _ProjectionWorker]],
) -> None:
    """Each partition's row after a poll: the highest position its batch applied, the
    offset after its last message, that message's position as the checkpoint. On
    PostgreSQL the statement that locks the topic's partitions writes that too, so the
    poll's transaction updates the positions table once; elsewhere once more per batch."""
    tenant = "t" + uuid.uuid4().hex[:10]
    events = [("registered", 0, 0), ("registered", 1, 0), ("corrected", 0, 1),
              ("registered", 2, 0), ("placement", 1, 2)]  # fmt: skip
    messages = _messages_of_own(tenant, _user_event, 3, events)
    [polled] = [_by_partition(tenant, messages)]
    _numbered_per_partition([polled])
    roster = workers[0][0]
    for batch in polled:
        positions.ensure_partition(
            roster.engine, projection=roster.projection.name, tenant=tenant,
            topic=_TOPIC, partition=batch.partition.partition,
        )  # fmt: skip

    with statements_on(roster.engine) as statements:
        assert roster.handle_polled(polled) == [None] * len(polled)

    position_writes = [s for s in statements if s.startswith("UPDATE projection_positions")]
    on_postgresql = roster.engine.dialect.name == "postgresql"
    assert len(position_writes) == (1 if on_postgresql else 1 + len(polled))
    for batch in polled:
        last = batch.messages[-1]
        assert _position(roster, batch.partition) == positions.PartitionPosition(
            max(m.position or 0 for m in batch.messages), last.offset + 1, last.position, None
        )
