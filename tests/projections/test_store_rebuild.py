"""Rebuilding read models straight from the event store (projections/store_rebuild.py): the
same read model as a rebuild from the topics, positions the runner carries on from, and
handler records equal to what a consumer decodes."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection, Engine
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from projections import positions
from projections.admin import ProjectionAdmin
from projections.base import Handler, Projection, ensure_current, finish_batch
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.roster import RosterProjection
from projections.subject_index import SubjectIndexProjection
from streams.avro_reading import same_value
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec, EventEnvelope
from streams.event_types import by_topic
from streams.schemas import default_registry
from tests.builders import a_school
from tests.projections.conftest import RunnerFactory
from tests.projections.publishing import PARTITIONS, StorePublisher
from tests.projections.read_models import expected_read_model, read_model
from tests.projections.roster_changes import a_crowd
from tests.projections.runner_checks import filled_and_analysed
from tests.projections.test_admin import environment
from tests.projections.test_every_projection_killed import a_graded_class

KINDS: dict[str, type[Any]] = {
    "roster": RosterProjection,
    "subject_index": SubjectIndexProjection,
    "class_dashboard": ClassDashboardProjection,
    "guardian_view": GuardianViewProjection,
}


@pytest.fixture
def projection(request: pytest.FixtureRequest, container: Container) -> Iterator[Projection]:
    """The projection of the test's kind under a name (and tables) of this test alone."""
    built: Projection = KINDS[getattr(request, "param", "roster")]("s" + uuid.uuid4().hex[:10])
    yield built
    with container.engine.begin() as connection:
        built.metadata.drop_all(connection)
        for table in (
            positions.projection_positions,
            positions.projection_parked,
            positions.projection_versions,
            positions.projection_retried,
        ):
            if sa.inspect(connection).has_table(table.name):
                connection.execute(table.delete().where(table.c.projection == built.name))


#: Columns that record when a projection applied an event, not what the events say.
APPLIED_AT = {"confirmed_at"}


def rows_of(engine: Engine, projection: Projection, tenant: str) -> dict[str, list[str]]:
    """Every row of the tenant in every table of the projection, comparable across rebuilds."""
    model: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for table in projection.metadata.sorted_tables:
            query = sa.select(*(c for c in table.c if c.name not in APPLIED_AT))
            if "tenant" in table.c:
                query = query.where(table.c.tenant == tenant)
            model[table.name.removeprefix(projection.name)] = sorted(
                repr(sorted(row._mapping.items())) for row in connection.execute(query)
            )
    return model


def admin_of(
    container: Container, projection: Projection, tenant: str, bootstrap: str
) -> ProjectionAdmin:
    return ProjectionAdmin(
        engine=container.engine,
        projections=[projection],
        codec=EventCodec(default_registry(), topic_prefix="digione", partitions=PARTITIONS),
        bootstrap=bootstrap,
        topic_prefix="digione",
        tenant_ids=lambda: [tenant],
        head_position=lambda t: container.tenants.get(t).head_position(),
        stores=container.tenants.get,
    )


def an_erasure(client: TestClient, admin: Mapping[str, str], subject: str) -> None:
    answer = client.post(
        "/api/v1/erasures", headers=dict(admin), json={"subject": subject, "reason": "pyyntö"}
    )
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("projection", sorted(KINDS), indirect=True)
def test_a_store_rebuild_makes_the_read_model_a_topic_rebuild_makes(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    projection: Projection,
    forget_tenant_rows: None,
) -> None:
    a_graded_class(client, container, tenant)
    a_crowd(app, count=30)
    head = publisher.publish()
    admin = admin_of(container, projection, tenant, broker.bootstrap)

    from_topics = admin.rebuild(projection, from_topics=True)
    by_topics = rows_of(container.engine, projection, tenant)
    from_store = admin.rebuild(projection)
    by_store = rows_of(container.engine, projection, tenant)

    assert (from_topics.source, from_store.source) == ("topics", "store")
    assert any(by_topics.values()), "the rebuilt read model holds nothing to compare"
    assert by_store == by_topics
    assert from_store.tenants[tenant] == (head, head, head)
    assert from_store.parked == from_topics.parked == 0


def apply_one_at_a_time(
    container: Container,
    app: TenantApplication,
    projection: Projection,
    *,
    privacy_first: bool = False,
) -> None:
    """Every stored event encoded and decoded by the real codec and applied alone, in store
    order, each in a transaction of its own with the projection's end-of-batch work; with
    `privacy_first` the privacy topic's events first, as a rebuild from the topics may read
    one topic well ahead of another."""
    codec = EventCodec(default_registry(), topic_prefix="digione", partitions=PARTITIONS)
    notifications = [
        n
        for n in app.recorder.select_notifications(1, limit=1_000_000)
        if by_topic()[n.topic].family in projection.families
    ]
    if privacy_first:
        notifications.sort(key=lambda n: by_topic()[n.topic].family != "privacy")
    for n in notifications:
        envelope = codec.round_trip(app.tenant, n.id, app.mapper.to_domain_event(n))  # type: ignore[arg-type]
        with container.engine.begin() as connection:
            handler = projection.handlers.get(envelope.event_type)
            if handler is not None:
                handler(connection, envelope)
            finish_batch(projection, connection)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("projection", sorted(KINDS), indirect=True)
def test_a_store_rebuild_of_a_tenant_with_an_erased_student_equals_applying_each_event_alone(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    projection: Projection,
    forget_tenant_rows: None,
) -> None:
    school = a_graded_class(client, container, tenant)
    a_crowd(app, count=10)
    an_erasure(client, school.admin, "stu-k1")
    publisher.publish()
    ensure_current(container.engine, projection)
    apply_one_at_a_time(container, app, projection)
    one_at_a_time = rows_of(container.engine, projection, tenant)

    admin_of(container, projection, tenant, broker.bootstrap).rebuild(projection)
    by_store = rows_of(container.engine, projection, tenant)

    assert any(one_at_a_time.values()), "the read model holds nothing to compare"
    assert by_store == one_at_a_time
    if isinstance(projection, RosterProjection):
        (erased,) = [row for row in by_store["_users"] if "'stu-k1'" in row]
        assert "'erased': True" in erased and "ciphertext" not in erased


class CountingProjection:
    """A projection that counts the store positions its handlers were given."""

    def __init__(self, inner: Projection) -> None:
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.families = inner.families
        self.metadata = inner.metadata
        self.applied: Counter[int] = Counter()
        self.handlers: Mapping[str, Handler] = {
            event_type: self._counting(handler) for event_type, handler in inner.handlers.items()
        }

    def _counting(self, handler: Handler) -> Handler:
        def count(connection: Connection, envelope: EventEnvelope) -> None:
            handler(connection, envelope)
            self.applied[envelope.position] += 1

        return count

    def finish_batch(self, connection: Connection) -> None:
        finish = getattr(self.inner, "finish_batch", None)
        if finish is not None:
            finish(connection)


def roster_positions(app: TenantApplication, after: int = 0) -> list[int]:
    """The tenant's store positions of roster events the roster projection handles."""
    handled = set(RosterProjection().handlers)
    return [
        n.id
        for n in app.recorder.select_notifications(after + 1, limit=1_000_000)
        if by_topic()[n.topic].type_name in handled
    ]


@pytest.mark.parametrize("backend", ["postgres", "sqlite"], indirect=True)
def test_a_runner_started_after_a_store_rebuild_applies_each_later_event_once_and_nothing_twice(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    runner_for: RunnerFactory,
    projection: Projection,
) -> None:
    a_school(client, container, tenant)
    a_crowd(app, count=20)
    rebuilt_up_to = publisher.publish()
    counting = CountingProjection(projection)
    admin_of(container, counting, tenant, broker.bootstrap).rebuild(counting)
    by_rebuild = Counter(counting.applied)
    counting.applied.clear()
    a_crowd(app, count=25)  # 20 renamed and disabled again, 5 new
    head = publisher.publish()

    runner_for(counting).run_once()

    assert by_rebuild == Counter(p for p in roster_positions(app) if p <= rebuilt_up_to)
    assert counting.applied == Counter(roster_positions(app, rebuilt_up_to))
    assert read_model(container.engine, projection, tenant) == expected_read_model(app)  # type: ignore[arg-type]
    assert head > rebuilt_up_to


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_store_rebuild_applies_only_what_the_relay_published_and_the_runner_the_rest(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    runner_for: RunnerFactory,
    projection: Projection,
) -> None:
    a_school(client, container, tenant)
    published = publisher.publish()
    a_crowd(app, count=10)  # stored, not published yet
    admin = admin_of(container, projection, tenant, broker.bootstrap)

    report = admin.rebuild(projection)
    publisher.publish()
    runner_for(projection).run_once()

    head = app.head_position()
    assert report.tenants[tenant] == (published, published, head)
    assert report.behind_relay == {tenant: head - published}
    assert read_model(container.engine, projection, tenant) == expected_read_model(app)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_handler_records_built_from_the_store_equal_the_decoded_messages_of_every_event_type(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    caplog: pytest.LogCaptureFixture,
) -> None:
    school = a_graded_class(client, container, tenant)
    an_erasure(client, school.admin, "stu-k2")
    codec = EventCodec(default_registry(), topic_prefix="digione", partitions=PARTITIONS)
    notifications = app.recorder.select_notifications(1, limit=1_000_000)

    types = set()
    with caplog.at_level(logging.WARNING, logger="streams.codec"):
        for _ in range(2):  # the first of each type is checked by a round trip, then not
            for n in notifications:
                built = codec.envelope_from_stored(
                    tenant, n.id, n.topic, n.originator_id, n.originator_version, n.state
                )
                decoded = codec.round_trip(tenant, n.id, app.mapper.to_domain_event(n))  # type: ignore[arg-type]
                assert built.event_type == decoded.event_type
                assert same_value(built.payload, decoded.payload), built.event_type
                assert same_value(built.occurred_at, decoded.occurred_at)
                assert (built.aggregate_id, built.aggregate_version, built.partition) == (
                    decoded.aggregate_id,
                    decoded.aggregate_version,
                    decoded.partition,
                )
                types.add(built.event_type)

    assert not [r for r in caplog.records if "differ" in r.getMessage()]
    assert len(types) >= 8, types


# Rebuilding "roster" drops the tables every tenant shares: on the embedded default only,
# where the database is the test's own.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_rebuild_command_reads_the_event_store_without_a_broker(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    settings: Settings,
    publisher: StorePublisher,
) -> None:
    a_school(client, container, tenant)
    publisher.publish()

    result = CliRunner().invoke(
        cli.app, ["projections", "rebuild", "roster"], env=environment(settings)
    )

    assert result.exit_code == 0, result.output
    assert f"roster rebuilt from the event store: {publisher.published} events" in result.output
    assert read_model(container.engine, RosterProjection(), tenant) == expected_read_model(app)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("projection", sorted(KINDS), indirect=True)
def test_an_erased_students_records_applied_after_the_erasure_hold_no_ciphertext(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    projection: Projection,
    forget_tenant_rows: None,
) -> None:
    school = a_graded_class(client, container, tenant)
    an_erasure(client, school.admin, "stu-1")
    publisher.publish()
    ensure_current(container.engine, projection)

    apply_one_at_a_time(container, app, projection, privacy_first=True)

    model = rows_of(container.engine, projection, tenant)
    # A class's stored dashboard page holds every student's name slot: stu-1's is checked.
    pages = model.pop("_pages", [])
    about = [row for rows in model.values() for row in rows if "'stu-1'" in row]
    assert about, "the read model holds nothing of the erased student to check"
    assert not [row for row in about if "ciphertext" in row]
    slots = [slot for slot in page_slots(container.engine, projection) if slot[0] == "stu-1"]
    assert bool(slots) == bool(pages)
    assert all("ciphertext" not in slot[1] for slot in slots)


def page_slots(engine: Engine, projection: Projection) -> list[list[Any]]:
    """Every name slot of the stored dashboard pages (a class dashboard's), else none."""
    table = projection.metadata.tables.get(f"{projection.name}_pages")
    if table is None:
        return []
    with engine.connect() as connection:
        return [slot for (slots,) in connection.execute(sa.select(table.c.slots)) for slot in slots]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_rebuilt_read_model_has_planner_statistics_without_waiting_for_autovacuum(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    projection: Projection,
    forget_tenant_rows: None,
) -> None:
    a_school(client, container, tenant)
    a_crowd(app, count=30)
    publisher.publish()

    admin_of(container, projection, tenant, broker.bootstrap).rebuild(projection)

    filled, analysed = filled_and_analysed(container.engine, projection)
    assert filled, "the rebuild filled no table"
    assert analysed == filled
