"""The relay publishes every stored event to its family topic, in store order per aggregate."""

from __future__ import annotations

from collections import defaultdict

import psycopg
import pytest
import sqlalchemy as sa
from eventsourcing.postgres import PostgresApplicationRecorder
from fastapi.testclient import TestClient
from psycopg import sql

from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec
from streams.event_types import by_type_name
from streams.kafka_transport import ReceivedMessage
from streams.positions import relay_positions
from streams.schemas import default_registry
from tests.builders import a_school, an_assessment, bearer
from tests.relay.conftest import PARTITIONS, RelayFactory, ServerFactory
from tests.relay.support import (
    OnlyTenant,
    positions_of,
    read_until,
    some_orgs,
    tenant_topics,
    wait_until,
)
from tests.statements import statements_on

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

HEADERS = ("event-type", "position", "tenant", "occurred-at")


def everything_up_to(head: int):  # type: ignore[no-untyped-def]
    return lambda messages: positions_of(messages) >= set(range(1, head + 1))


def test_every_recorded_event_reaches_its_family_topic_decodable_and_in_order(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
) -> None:
    school = a_school(client, container, tenant)
    teacher = bearer(container, tenant, "teacher", "tch-1")
    for grade in ("7", "8"):
        response = client.post(
            "/api/v1/assessments", json=an_assessment(grade=grade), headers=teacher
        )
        assert response.status_code == 201, response.text
    head = some_orgs(app, 3, renamed=True)
    relay = relay_for(shared_broker.bootstrap)

    published = relay.run_once()

    assert published == head
    messages = read_until(
        shared_broker.bootstrap,
        tenant_topics(topic_prefix, tenant),
        everything_up_to(head),
        timeout=20,
    )
    assert school.student_ids
    _assert_decodable_on_family_topics(messages, tenant=tenant, topic_prefix=topic_prefix)
    _assert_in_store_order_per_aggregate(messages, topic_prefix=topic_prefix)
    _assert_as_the_domain_events_encode(messages, app, tenant=tenant, topic_prefix=topic_prefix)
    assert {m.topic for m in messages} >= {
        f"{topic_prefix}.{tenant}.roster.v1",
        f"{topic_prefix}.{tenant}.assessment.v1",
    }


def _assert_decodable_on_family_topics(
    messages: list[ReceivedMessage], *, tenant: str, topic_prefix: str
) -> None:
    registry = default_registry()
    codec = EventCodec(registry, topic_prefix=topic_prefix, partitions=PARTITIONS)
    for message in messages:
        for name in HEADERS:
            assert message.header(name), f"no {name} header at offset {message.offset}"
        event_type = (message.header("event-type") or b"").decode()
        assert message.value is not None and message.value[:2] == b"\xc3\x01"
        fingerprint = message.value[2:10]
        schema = registry.by_fingerprint(fingerprint)
        assert schema is not None and schema.type_name == event_type
        envelope = codec.decode(message)
        assert envelope.tenant == tenant
        assert message.topic == f"{topic_prefix}.{tenant}.{by_type_name()[event_type].family}.v1"
        assert message.key == str(envelope.aggregate_id).encode()


def _assert_as_the_domain_events_encode(
    messages: list[ReceivedMessage], app: TenantApplication, *, tenant: str, topic_prefix: str
) -> None:
    """The relay encodes straight from the stored records and lets the producer partition:
    each message is the one the codec makes of the domain event, on the murmur2 partition
    of its key (Kafka's default partitioner, which every client agrees on)."""
    codec = EventCodec(default_registry(), topic_prefix=topic_prefix, partitions=PARTITIONS)
    stored = {n.id: n for n in app.recorder.select_notifications(1, len(messages) + 1)}
    for message in messages:
        position = int(message.header("position") or b"0")
        event = app.mapper.to_domain_event(stored[position])
        expected = codec.encode(tenant, position, event)  # type: ignore[arg-type]
        assert (message.topic, message.partition, message.key, message.value) == (
            expected.topic,
            expected.partition,
            expected.key,
            expected.value,
        )
        assert list(message.headers) == list(expected.headers)


def _assert_in_store_order_per_aggregate(
    messages: list[ReceivedMessage], *, topic_prefix: str
) -> None:
    codec = EventCodec(default_registry(), topic_prefix=topic_prefix, partitions=PARTITIONS)
    by_aggregate: dict[object, list[tuple[int, int, int]]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        envelope = codec.decode(message)
        by_aggregate[envelope.aggregate_id].append(
            (message.partition, envelope.position, envelope.aggregate_version)
        )
    assert any(len(events) > 1 for events in by_aggregate.values())
    for events in by_aggregate.values():
        assert len({partition for partition, _, _ in events}) == 1
        positions = [position for _, position, _ in events]
        versions = [version for _, _, version in events]
        assert positions == sorted(positions) and versions == sorted(versions)


def test_a_pass_with_nothing_new_publishes_nothing_and_reports_no_lag(
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    head = some_orgs(app, 2)
    relay = relay_for(shared_broker.bootstrap)
    relay.run_once()

    again = relay.run_once()

    assert again == 0
    assert relay.status()[tenant] == {
        "published": head,
        "head": head,
        "lag": 0,
        "state": "ok",
        "last_error": None,
        "since": None,
        "parked": 0,
        "oldest_parked": None,
    }


def test_the_relay_tells_its_consumers_when_the_broker_acknowledged_new_events_only(
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    told: list[int] = []
    relay = relay_for(shared_broker.bootstrap, on_published=lambda: told.append(len(told)))
    some_orgs(app, 2)

    assert relay.run_once() > 0
    after_publishing = len(told)
    assert relay.run_once() == 0

    assert after_publishing > 0
    assert len(told) == after_publishing


def test_serves_relay_tells_the_projections_beside_its_embedded_broker_what_it_published(
    settings: Settings,
    container: Container,
    tenant: str,
    shared_broker: EmbeddedBroker,
    serve: ServerFactory,
) -> None:
    server = serve(shared_broker.bootstrap, {tenant}, embedded_broker=True)
    publications = server.runtime.runner.publications
    assert publications is not None
    head = some_orgs(server.tenants.get(tenant), 2)
    server.runtime.relay.wake()

    wait_until(
        lambda: all(s.position >= head for s in server.status.states() if s.tenant == tenant),
        timeout=30,
        what="the projections at the head",
    )

    assert publications.count > 0


def test_a_started_relay_publishes_a_new_event_soon_after_wake(
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
) -> None:
    relay = relay_for(shared_broker.bootstrap, idle_poll_seconds=30.0)
    relay.start()
    first = some_orgs(app, 1)
    relay.wake()
    wait_until(
        lambda: relay.status()[tenant]["published"] == first, timeout=10, what="the first event"
    )

    head = some_orgs(app, 2)
    relay.wake()

    wait_until(
        lambda: relay.status()[tenant]["published"] == head, timeout=5, what="the new events"
    )
    read_until(
        shared_broker.bootstrap,
        tenant_topics(topic_prefix, tenant),
        everything_up_to(head),
        timeout=10,
    )


def test_a_wake_naming_a_tenant_publishes_its_events_in_a_pass_that_leaves_the_others(
    container: Container,
    tenant: str,
    tenant_prefix: str,
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    other = tenant_prefix + "b"
    container.tenants.create(other, name="Another municipality")
    other_app = container.tenants.get(other)
    relay = relay_for(
        shared_broker.bootstrap,
        idle_poll_seconds=30.0,
        tenants=OnlyTenant(container.tenants, tenant, other),
    )
    some_orgs(app, 1)
    some_orgs(other_app, 1)
    # Started after the events are saved, with no wake of every tenant meanwhile: the
    # thread's first pass (over every tenant) publishes both, and none follows it until the
    # wake below. (A wake of every tenant during that pass had the next pass, the one the
    # tenant's wake brings forward, look at every tenant.)
    relay.start()
    wait_until(
        lambda: [relay.status()[t]["published"] for t in (tenant, other)] == [1, 1],
        timeout=10,
        what="both tenants' first events",
    )

    head = some_orgs(app, 2)
    some_orgs(other_app, 2)
    relay.wake(tenant)
    wait_until(
        lambda: relay.status()[tenant]["published"] == head, timeout=10, what="the woken tenant"
    )
    left = relay.status()[other]["published"]
    relay.wake(other)
    wait_until(
        lambda: relay.status()[other]["published"] == head, timeout=10, what="the other tenant"
    )

    # The first pass looked at the woken tenant alone; the other waited for its own wake
    # (or, had its announcement been missed, for the idle pass over every tenant).
    assert left == 1


def test_a_wake_naming_a_tenant_that_joined_since_the_last_full_pass_publishes_its_events(
    container: Container,
    tenant: str,
    tenant_prefix: str,
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    served = OnlyTenant(container.tenants, tenant)
    relay = relay_for(shared_broker.bootstrap, idle_poll_seconds=30.0, tenants=served)
    relay.start()
    some_orgs(app, 1)
    relay.wake()
    wait_until(lambda: relay.status()[tenant]["published"] == 1, timeout=10, what="a first pass")

    joined = tenant_prefix + "new"
    container.tenants.create(joined, name="A municipality that joins")
    served.add(joined)
    head = some_orgs(container.tenants.get(joined), 2)
    relay.wake(joined)

    # The idle pass over every tenant is 30 s away: the woken pass itself finds the tenant.
    wait_until(
        lambda: relay.status()[joined]["published"] == head,
        timeout=10,
        what="the joined tenant's events",
    )


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_every_save_notifies_the_stores_channel_naming_its_schema(
    container: Container, app: TenantApplication
) -> None:
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    assert container.settings.libpq_url is not None
    with psycopg.connect(container.settings.libpq_url, autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(recorder.channel_name)))

        some_orgs(app, 3, renamed=True)

        heard = [n.payload for n in listener.notifies(timeout=2.0)]
    # Other tests' tenants notify the same channel: this store's saves are among them.
    assert heard.count(recorder.datastore.schema) >= 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_serves_relay_and_runner_commit_without_waiting_for_the_flush_and_commands_wait(
    container: Container,
) -> None:
    def synchronous_commit(engine: sa.Engine) -> object:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SHOW synchronous_commit").scalar()

    # What the relay and the runner write is recovered by replay; a command's events are not.
    assert synchronous_commit(container.pipeline_engine) == "off"
    assert synchronous_commit(container.engine) == "on"


def test_a_pass_woken_for_a_tenant_starts_from_what_the_relay_recorded_and_a_full_pass_reads_it(
    container: Container,
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    relay = relay_for(shared_broker.bootstrap)
    first = some_orgs(app, 1)
    assert relay.run_once() == first
    head = some_orgs(app, 3)

    with statements_on(container.engine) as statements:
        woken = relay.run_once({tenant})

    assert woken == head - first
    assert not [s for s in statements if f"FROM {relay_positions.name} " in f"{s} "]
    assert relay.status()[tenant]["published"] == head
    # What the relay remembers is bounded by its passes over every tenant (every
    # idle_poll_seconds): they start from the table. Moved back behind its back, the
    # table has a woken pass go on from what the relay recorded, and the next full pass
    # publish again from where the table says.
    with container.engine.begin() as connection:
        connection.execute(
            relay_positions.update().where(relay_positions.c.tenant == tenant).values(position=0)
        )
    assert relay.run_once({tenant}) == 0
    assert relay.run_once() == head


def test_the_relay_records_acknowledged_runs_on_one_connection_it_returns_when_it_stops(
    container: Container,
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    """Woken passes over pages of two events record what the broker acknowledged (their
    published positions move) without a connection checked out of the pool: on the one the
    relay took for its first record, in the pass before; it is back once the relay stops."""
    relay = relay_for(shared_broker.bootstrap, batch_size=2, max_in_flight=1)
    first = some_orgs(app, 1)
    assert relay.run_once() == first
    pool = container.engine.pool
    moves: list[str] = []

    def checked_out(*_: object) -> None:
        moves.append("out")

    def checked_in(*_: object) -> None:
        moves.append("in")

    sa.event.listen(pool, "checkout", checked_out)
    sa.event.listen(pool, "checkin", checked_in)
    try:
        second = some_orgs(app, 4)
        assert relay.run_once({tenant}) == second - first
        assert relay.status()[tenant]["published"] == second
        head = some_orgs(app, 4)
        assert relay.run_once({tenant}) == head - second
        assert relay.status()[tenant]["published"] == head
        held = list(moves)
        relay.stop()
    finally:
        sa.event.remove(pool, "checkout", checked_out)
        sa.event.remove(pool, "checkin", checked_in)

    # The status reads check a connection out and back; the records none.
    assert held == ["out", "in", "out", "in"]
    assert moves == [*held, "in"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_relay_whose_recording_connection_was_cut_records_on_a_new_one(
    container: Container,
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    """The server ends the connection the relay records on (a restart, an administrator):
    the pass that meets it fails and publishes again from the recorded position, and the
    next pass records on a new connection."""
    relay = relay_for(shared_broker.bootstrap)
    first = some_orgs(app, 1)
    assert relay.run_once() == first
    with container.engine.connect() as connection:
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE '%relay_partition_positions%'"
            )
        )
    head = some_orgs(app, 3)

    assert relay.run_once({tenant}) == 0  # published, but not recorded: the pass failed
    assert relay.status()[tenant]["published"] == first
    assert relay.run_once() == head - first  # published again, and recorded
    assert relay.status()[tenant]["published"] == head
