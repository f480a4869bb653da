"""The ledger's signed checkpoints are published on `{prefix}.{tenant}.ledger.v1`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.bootstrap import Container
from api.checkpoint_schedule import CheckpointSchedule, ledger_topic
from domain.application import TenantApplication
from domain.ledger_checkpoints import Checkpoint, signature_holds
from streams.broker import EmbeddedBroker
from streams.kafka_transport import KafkaPythonTransport, read_topic
from tests.integration.test_ledger import _orgs


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
