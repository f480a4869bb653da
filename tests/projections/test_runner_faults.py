"""The projection runner under faults: killed mid-stream, split across processes, a broker that lost its data."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from projections.base import reset
from projections.roster import RosterProjection
from projections.status import ProjectionStatus
from streams.broker import EmbeddedBroker
from streams.positions import reset_published
from tests.builders import a_school
from tests.projections.conftest import RunnerFactory
from tests.projections.publishing import StorePublisher
from tests.projections.read_models import expected_read_model, read_model
from tests.projections.roster_changes import a_changing_school, a_crowd
from tests.projections.runner_checks import (
    next_offsets,
    read_to_the_end,
    start_runner_process,
    wait_until,
)


def test_a_runner_killed_mid_stream_resumes_to_what_a_rebuild_makes(
    client: TestClient,
    container: Container,
    settings: Settings,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
    runner_for: RunnerFactory,
    status: ProjectionStatus,
    roster: RosterProjection,
) -> None:
    a_school(client, container, tenant)
    a_crowd(app, count=80)
    head = publisher.publish()
    # One message per transaction, so the kill lands between (or inside) many of them.
    killed = start_runner_process(settings, broker, tenant, roster.name, max_batch=1)
    try:
        wait_until(lambda: status.position(tenant, roster.name) > 0)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    killed_at = status.position(tenant, roster.name)

    runner_for(RosterProjection(roster.name)).run_once()
    live_model = read_model(container.engine, roster, tenant)
    reset(container.engine, roster)
    runner_for(RosterProjection(roster.name)).run_once()

    assert 0 < killed_at < head, "the kill should land mid-stream"
    assert read_model(container.engine, roster, tenant) == live_model == expected_read_model(app)


def test_two_runners_with_disjoint_partition_shares_build_the_whole_model(
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
    first = runner_for(RosterProjection(roster.name), partitions=[0])
    second = runner_for(RosterProjection(roster.name), partitions=[1, 2])

    first.run_once()
    partial = read_model(container.engine, roster, tenant)
    second.run_once()

    assert partial != expected_read_model(app)
    assert read_model(container.engine, roster, tenant) == expected_read_model(app)
    # Which partitions got messages depends on the (random) tenant's keys; the
    # runners must between them have read every one that did.
    assert next_offsets(container.engine, roster.name, tenant) == publisher.end_offsets("roster")


@pytest.mark.parametrize(
    ("runner_kind", "relay_epoch"),
    [
        ("the same runner", "epoch-2"),
        ("a restarted runner", "epoch-2"),
        # No epoch to go by: the restarted runner notices by re-reading its last message.
        ("a restarted runner", None),
    ],
)
def test_after_the_broker_lost_its_data_the_republished_log_changes_nothing(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    own_broker: EmbeddedBroker,
    runner_for: RunnerFactory,
    roster: RosterProjection,
    tmp_path: Path,
    runner_kind: str,
    relay_epoch: str | None,
) -> None:
    school = a_school(client, container, tenant)
    port = own_broker.port
    first = StorePublisher(app=app, engine=container.engine, bootstrap=own_broker.bootstrap)
    first.publish()
    first.publish(again_from=0)  # duplicates: the lost log ran longer than the new one
    runner = runner_for(roster, bootstrap=own_broker.bootstrap)
    read_to_the_end(runner, container.engine, first, roster.name)
    first.close()
    if runner_kind == "a restarted runner":
        runner.close()
    own_broker.stop()

    with EmbeddedBroker(tmp_path / "refilled", port=port) as refilled:
        # As the relay does on a broker of a new epoch: record it, then publish everything
        # again, with enough new events on top that the old offsets fall inside the new log.
        if relay_epoch is not None:
            with container.engine.begin() as connection:
                reset_published(connection, tenant, broker_epoch=relay_epoch)
        again = StorePublisher(app=app, engine=container.engine, bootstrap=refilled.bootstrap)
        new_orgs = 0
        while not all(
            Counter((m.topic, m.partition) for m in again.messages())[k] > n
            for k, n in first.sent.items()
        ):
            new_orgs += 1
            client.put(
                f"/api/v1/roster/orgs/new-{new_orgs}",
                headers=school.admin,
                json={"org": {"name": "Koulu", "type": "school", "identifier": "x"}},
            )
        again.publish()
        if runner_kind == "a restarted runner":
            runner = runner_for(RosterProjection(roster.name), bootstrap=refilled.bootstrap)
        read_to_the_end(runner, container.engine, again, roster.name)
        runner.close()
        again.close()

    assert read_model(container.engine, roster, tenant) == expected_read_model(app)
