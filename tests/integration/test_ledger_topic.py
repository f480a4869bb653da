"""The ledger's signed checkpoints are published on `{prefix}.{tenant}.ledger.v1`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.checkpoint_schedule import CheckpointSchedule, ledger_topic
from api.settings import Settings
from domain.application import TenantApplication
from domain.ledger_checkpoints import Checkpoint, signature_holds
from streams.broker import EmbeddedBroker
from streams.kafka_transport import KafkaPythonTransport, read_topic
from tests.integration.test_ledger import Store, _orgs
from tests.projections.test_admin import environment


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    started = EmbeddedBroker(Path(tmp_path_factory.mktemp("ledger-broker")))
    started.start()
    yield started
    started.stop()


def _published(broker: EmbeddedBroker, tenant: str) -> list[Checkpoint]:
    messages = read_topic(broker.bootstrap, ledger_topic("digione", tenant), silence_seconds=1.0)
    return [Checkpoint.from_dict(json.loads(m.value or b"")) for m in messages]


def test_each_new_ledger_head_is_signed_and_published_once_outside_the_database(
    container: Container, app: TenantApplication, tenant: str, broker: EmbeddedBroker
) -> None:
    schedule = CheckpointSchedule(
        container.tenants,
        bootstrap=broker.bootstrap,
        topic_prefix="digione",
        transport_factory=lambda: KafkaPythonTransport(broker.bootstrap),
    )
    first = _orgs(app, tenant, 2)
    schedule.run_once()
    schedule.run_once()  # nothing new: nothing signed, nothing published
    later = _orgs(app, tenant, 1, first=2)
    schedule.run_once()

    published = _published(broker, tenant)
    public_key = app.ledger_public_key()

    assert [c.position for c in published] == [first[-1], later[-1]]
    assert published == app.checkpoints()
    assert public_key is not None
    assert all(signature_holds(c, public_key) for c in published)
    assert app.verify_ledger().checkpoints == 2


def test_verify_from_kafka_catches_a_rewrite_that_also_removed_the_stores_checkpoints(
    container: Container,
    app: TenantApplication,
    tenant: str,
    broker: EmbeddedBroker,
    settings: Settings,
) -> None:
    schedule = CheckpointSchedule(
        container.tenants,
        bootstrap=broker.bootstrap,
        topic_prefix="digione",
        transport_factory=lambda: KafkaPythonTransport(broker.bootstrap),
    )
    positions = _orgs(app, tenant, 3)
    schedule.run_once()
    store = Store(app)
    # Whoever has the database changes an event, rewrites the ledger to match and removes
    # the checkpoints kept beside it.
    state = bytearray(store.state_at(positions[0]))
    state[-2] ^= 0x01
    store.run(
        f"UPDATE {store.events} SET state = {store.p} WHERE {store.position} = {store.p}",
        bytes(state),
        positions[0],
    )
    store.run(f"DELETE FROM {store.ledger}")
    store.run(f"DELETE FROM {store.ledger.replace('digione_ledger', 'digione_ledger_checkpoints')}")
    with getattr(app.factory, "datastore").transaction(commit=True) as cursor:  # noqa: B009
        app.ledger.chain_recorded(cursor)
    verify = ["audit", "verify", "--tenant", tenant]
    env = environment(settings, bootstrap=broker.bootstrap)

    from_store = CliRunner().invoke(cli.app, verify, env=env)
    from_kafka = CliRunner().invoke(cli.app, [*verify, "--from-kafka"], env=env)

    assert from_store.exit_code == 0, from_store.output  # the store alone cannot tell
    assert from_kafka.exit_code == 1, from_kafka.output
    assert f"ALTERED at position {positions[-1]}" in from_kafka.output
    assert "rewritten together" in " ".join(from_kafka.output.split())


def test_verify_from_kafka_without_a_cluster_says_what_to_set(
    settings: Settings, tenant: str
) -> None:
    result = CliRunner().invoke(
        cli.app, ["audit", "verify", "--tenant", tenant, "--from-kafka"], env=environment(settings)
    )

    assert result.exit_code == 2
    assert "DIGIONE_KAFKA_BOOTSTRAP" in result.output
