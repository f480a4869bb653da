"""The projection runner: idempotent, restartable, rebuildable, and robust to bad messages,
to being killed and to a broker that lost its data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.ids import aggregate_id
from projections import positions
from projections.base import reset
from projections.roster import RosterProjection
from projections.runner import ProjectionRunner
from projections.status import ProjectionStatus
from streams.broker import EmbeddedBroker
from streams.codec import EventEnvelope, family_topic
from streams.kafka_transport import KafkaPythonTransport, OutgoingMessage
from tests.builders import a_school
from tests.projections.conftest import RunnerFactory
from tests.projections.publishing import PARTITIONS, StorePublisher
from tests.projections.read_models import expected_read_model, read_model
from tests.projections.roster_changes import a_changing_school, a_crowd
from tests.projections.runner_checks import (
    filled_and_analysed,
    parked_rows,
    read_to_the_end,
    wait_until,
)

pytestmark = pytest.mark.broker


# -- idempotence, restarts and rebuilds ----------------------------------------------------


def test_applying_every_message_twice_changes_nothing(
    client: TestClient,
    container: Container,
    tenant: str,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    a_changing_school(client, container, tenant)
    publisher.publish()
    runner = runner_for(roster)
    read_to_the_end(runner, container.engine, publisher, roster.name)
    before = read_model(container.engine, roster, tenant)
    with container.engine.connect() as connection:
        applied = positions.applied_positions(connection, projection=roster.name, tenant=tenant)

    publisher.publish(again_from=0)
    read_to_the_end(runner, container.engine, publisher, roster.name)

    assert read_model(container.engine, roster, tenant) == before
    with container.engine.connect() as connection:
        assert (
            positions.applied_positions(connection, projection=roster.name, tenant=tenant)
            == applied
        )


def test_a_restarted_runner_resumes_where_it_stopped_without_reapplying(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    school = a_school(client, container, tenant)
    publisher.publish()
    first = runner_for(roster)
    first.run_once()
    first.close()
    published = publisher.published
    client.put(
        "/api/v1/roster/orgs/sch-9",
        headers=school.admin,
        json={"org": {"name": "Uusi koulu", "type": "school", "identifier": "09"}},
    )
    publisher.publish()

    read = runner_for(RosterProjection(roster.name)).run_once()

    assert read == publisher.published - published
    assert read_model(container.engine, roster, tenant) == expected_read_model(app)


def test_a_rebuild_from_scratch_equals_the_live_read_model(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    a_school(client, container, tenant)
    publisher.publish()
    live = runner_for(roster)
    live.run_once()
    a_changing_school(client, container, tenant)  # the same school, then changed
    publisher.publish()
    live.run_once()
    live.close()
    live_model = read_model(container.engine, roster, tenant)

    reset(container.engine, roster)
    assert read_model(container.engine, roster, tenant)["users"] == []
    runner_for(RosterProjection(roster.name)).run_once()

    assert read_model(container.engine, roster, tenant) == live_model == expected_read_model(app)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_read_model_built_from_the_beginning_has_planner_statistics_without_autovacuum(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    """New tables have none until autovacuum looks (a minute or more later), and the
    planner meanwhile took the (tenant, primary_org) index for a user read by sourcedId,
    filtering every user of the tenant; the runner analyses the tables as they fill."""
    a_school(client, container, tenant)
    a_crowd(app, count=30)
    publisher.publish()

    # Due as the last message is applied, so every table it fills has been filled.
    runner_for(roster, analyse_after=publisher.published).run_once()

    filled, analysed = filled_and_analysed(container.engine, roster)
    assert f"{roster.name}_users" in filled
    assert analysed == filled


def test_a_new_code_version_drops_and_rebuilds_the_read_model_by_itself(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    class BumpedRoster(RosterProjection):
        version = RosterProjection.version + 1

    a_school(client, container, tenant)
    publisher.publish()
    runner_for(roster).run_once()
    with container.engine.begin() as connection:
        connection.execute(
            roster.tables.orgs.insert().values(
                tenant=tenant,
                sourced_id="left-by-v1",
                status="active",
                date_last_modified=sa.func.now(),
                aggregate_id=str(uuid.uuid4()),
                name="x",
                type="school",
                identifier="x",
            )
        )
    bumped = BumpedRoster(roster.name)

    # Ends when the rebuilt model reached what the relay recorded; the long silence only
    # keeps a slow first fetch after the drop (a loaded machine) from ending it early.
    runner_for(bumped).run_once(silence_seconds=10.0)

    model = read_model(container.engine, bumped, tenant)
    assert "left-by-v1" not in {r["sourced_id"] for r in model["orgs"]}
    assert model == expected_read_model(app)
    with container.engine.connect() as connection:
        assert positions.stored_version(connection, roster.name) == bumped.version


# -- partition shares --------------------------------------------------------------------------


# -- messages that cannot be applied -----------------------------------------------------------


class SometimesBroken(RosterProjection):
    """The roster projection with a bug that hits one aggregate's events until fixed: in
    its handlers, or (`at_batch_end`) in the end-of-batch work those events leave."""

    def __init__(
        self, name: str, broken_aggregate: uuid.UUID, *, at_batch_end: bool = False
    ) -> None:
        super().__init__(name)
        self.broken = True
        self.broken_aggregate = broken_aggregate
        self.at_batch_end = at_batch_end
        healthy = dict(self.handlers)

        def guarded(
            handle: Callable[[Connection, EventEnvelope], None],
        ) -> Callable[[Connection, EventEnvelope], None]:
            def handler(connection: Connection, envelope: EventEnvelope) -> None:
                hit = self.broken and envelope.aggregate_id == broken_aggregate
                if hit and not at_batch_end:
                    raise ValueError("a bug in the handler")
                handle(connection, envelope)
                if hit:
                    connection.info["hit"] = True

            return handler

        self.handlers = {name: guarded(handle) for name, handle in healthy.items()}

    def finish_batch(self, connection: Connection) -> None:
        if connection.info.pop("hit", False):
            raise ValueError("a bug at the end of the batch")


class DatabaseAwayOnce(RosterProjection):
    """The roster projection whose first handler call meets a database that went away."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.outages = 1
        healthy = dict(self.handlers)

        def guarded(
            handle: Callable[[Connection, EventEnvelope], None],
        ) -> Callable[[Connection, EventEnvelope], None]:
            def handler(connection: Connection, envelope: EventEnvelope) -> None:
                if self.outages:
                    self.outages -= 1
                    raise sa.exc.OperationalError(
                        "UPDATE …", None, ConnectionError("server closed the connection")
                    )
                handle(connection, envelope)

            return handler

        self.handlers = {name: guarded(handle) for name, handle in healthy.items()}


def test_a_database_outage_in_a_handler_parks_nothing_and_the_batch_applies_once_it_is_back(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    a_changing_school(client, container, tenant)
    publisher.publish()
    runner = runner_for(DatabaseAwayOnce(roster.name))

    with pytest.raises(sa.exc.OperationalError):
        runner.run_once()
    runner.run_once()

    with container.engine.connect() as connection:
        assert parked_rows(connection, roster.name, tenant) == []
    assert read_model(container.engine, roster, tenant) == expected_read_model(app)


@pytest.mark.parametrize("retried_by", ["retry_parked", "a restart"])
def test_a_failing_message_is_parked_the_rest_continue_and_a_retry_applies_it_in_order(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    status: ProjectionStatus,
    roster: RosterProjection,
    retried_by: str,
) -> None:
    student = aggregate_id(tenant, "users", "stu-1")
    broken = SometimesBroken(roster.name, student)
    a_changing_school(client, container, tenant)
    publisher.publish()
    student_events = sum(
        1 for n in app.recorder.select_notifications(1, limit=10_000) if n.originator_id == student
    )
    runner = runner_for(broken)

    runner.run_once()

    with container.engine.connect() as connection:
        parked = parked_rows(connection, roster.name, tenant)
    assert len(parked) == student_events > 2
    assert {p["aggregate_id"] for p in parked} == {str(student)}
    assert parked[0]["error"] == "ValueError: a bug in the handler"
    assert all(
        p["error"].startswith(f"waiting for the parked message at position {parked[0]['position']}")
        for p in parked[1:]
    )
    assert [p["position"] for p in parked] == sorted(p["position"] for p in parked)
    assert status.state(tenant, roster.name).parked == student_events
    model = read_model(container.engine, roster, tenant)
    expected = expected_read_model(app)
    assert [u for u in model["users"] if u["sourced_id"] != "stu-1"] == [
        u for u in expected["users"] if u["sourced_id"] != "stu-1"
    ]
    assert model["enrollments"] == expected["enrollments"]

    broken.broken = False
    if retried_by == "retry_parked":
        outcome = runner.retry_parked()
        assert (outcome.applied, outcome.still_parked) == (student_events, 0)
    else:
        runner.close()
        runner_for(broken).run_once()

    assert read_model(container.engine, roster, tenant) == expected
    assert status.state(tenant, roster.name).parked == 0


def test_messages_that_do_not_decode_or_belong_to_another_tenant_are_parked_without_payload(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
    broker: EmbeddedBroker,
) -> None:
    a_school(client, container, tenant)
    topic = family_topic("digione", tenant, "roster")
    [stranger] = [
        m
        for m in publisher.messages()
        if dict(m.headers)["event-type"] == b"fi.digione.roster.org.registered.v1"
        and m.key == str(aggregate_id(tenant, "orgs", "dist-1")).encode()
    ]
    foreign = OutgoingMessage(
        topic=topic,
        key=str(uuid.uuid4()).encode(),
        value=stranger.value,
        headers=[
            (k, b"othertenant" if k == "tenant" else v)
            for k, v in stranger.headers
            if k != "position"
        ]
        + [("position", b"999999")],
        partition=0,
    )
    garbage = [
        OutgoingMessage(
            topic=topic,
            key=str(uuid.uuid4()).encode(),
            value=b"\xc3\x01" + b"\x00" * 8 + "Zelmiina Quxström".encode(),
            headers=[
                ("event-type", b"fi.digione.roster.user.registered.v1"),
                ("tenant", tenant.encode()),
            ],
            partition=partition,
        )
        for partition in range(PARTITIONS)
    ]
    with KafkaPythonTransport(broker.bootstrap) as transport:
        transport.publish([*garbage, foreign])
    publisher.publish()

    runner_for(roster).run_once()

    with container.engine.connect() as connection:
        parked = parked_rows(connection, roster.name, tenant)
    assert len(parked) == PARTITIONS + 1
    assert all(p["error"].startswith("undecodable: ") for p in parked if p["position"] is None)
    [other] = [p for p in parked if p["position"] == 999999]
    assert "othertenant" in other["error"]
    assert "Zelmiina" not in repr(parked) and "Quxstr" not in repr(parked)
    assert read_model(container.engine, roster, tenant) == expected_read_model(app)


# -- the broker loses its data -----------------------------------------------------------------


# -- the loop ----------------------------------------------------------------------------------


def test_the_runner_thread_keeps_the_read_model_current_until_stopped(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    status: ProjectionStatus,
    roster: RosterProjection,
) -> None:
    runner = runner_for(roster)
    runner.start()

    a_school(client, container, tenant)
    head = publisher.publish()

    assert status.wait_for(tenant, roster.name, head, timeout_seconds=15)
    assert read_model(container.engine, roster, tenant) == expected_read_model(app)
    runner.stop()
    assert not runner.is_running and runner.failure is None


def test_the_runner_thread_stops_after_too_many_consecutive_errors(
    tmp_path: Path,
    broker: EmbeddedBroker,
) -> None:
    from streams.codec import EventCodec
    from streams.schemas import default_registry

    unusable = sa.create_engine(f"sqlite:///{tmp_path}/missing/dir/read-models.sqlite")
    runner = ProjectionRunner(
        engine=unusable,
        projections=[RosterProjection()],
        codec=EventCodec(default_registry(), topic_prefix="digione", partitions=1),
        bootstrap=broker.bootstrap,
        topic_prefix="digione",
        tenant_ids=list,
        max_consecutive_errors=3,
    )

    runner.start()

    wait_until(lambda: not runner.is_running, timeout_seconds=10)
    assert isinstance(runner.failure, sa.exc.OperationalError)
    runner.stop()


def test_a_batch_whose_end_of_batch_work_fails_is_applied_message_by_message_parking_the_failing(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    status: ProjectionStatus,
    roster: RosterProjection,
) -> None:
    student = aggregate_id(tenant, "users", "stu-1")
    broken = SometimesBroken(roster.name, student, at_batch_end=True)
    a_changing_school(client, container, tenant)
    publisher.publish()
    runner = runner_for(broken)

    runner.run_once()

    with container.engine.connect() as connection:
        parked = parked_rows(connection, roster.name, tenant)
    assert {p["aggregate_id"] for p in parked} == {str(student)}
    assert parked[0]["error"] == "ValueError: a bug at the end of the batch"
    model = read_model(container.engine, roster, tenant)
    expected = expected_read_model(app)
    assert model["enrollments"] == expected["enrollments"]

    broken.broken = False
    runner.retry_parked()

    assert read_model(container.engine, roster, tenant) == expected
    assert status.state(tenant, roster.name).parked == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_each_applied_batch_is_announced_to_reads_waiting_for_the_tenants_positions(
    client: TestClient,
    container: Container,
    tenant: str,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    a_changing_school(client, container, tenant)
    publisher.publish()
    assert container.settings.libpq_url is not None
    with psycopg.connect(container.settings.libpq_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {positions.POSITIONS_CHANNEL}")

        runner_for(roster).run_once()

        heard = {n.payload for n in listener.notifies(timeout=2.0)}
    assert f"{tenant} {roster.name}" in heard
