"""A relay killed at any moment loses nothing: its successor resumes from the recorded position."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from streams.acknowledged import record_acknowledged
from streams.broker import EmbeddedBroker
from streams.positions import create_tables, published_position
from tests.relay.conftest import PARTITIONS, RelayFactory
from tests.relay.support import positions_of, read_until, some_orgs, tenant_topics, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
BATCH_SIZE = 10


@contextmanager
def relay_process(
    settings: Settings,
    *,
    bootstrap: str,
    topic_prefix: str,
    tenant: str,
    produce_delay_seconds: float = 0.0,
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "tests.relay.relay_process",
        "--data-dir",
        str(settings.data_dir),
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        topic_prefix,
        "--partitions",
        str(PARTITIONS),
        "--batch-size",
        str(BATCH_SIZE),
        "--tenant",
        tenant,
        "--produce-delay-seconds",
        str(produce_delay_seconds),
    ]
    if settings.database_url:
        command += ["--database-url", settings.database_url]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_a_relay_killed_mid_stream_and_restarted_loses_nothing(
    settings: Settings,
    container: Container,
    tenant: str,
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    topic_prefix: str,
    relay_for: object,  # forgets the tenant's relay positions afterwards
) -> None:
    head = some_orgs(app, 200, renamed=True)
    create_tables(container.engine)

    def published() -> int:
        with container.engine.connect() as connection:
            return published_position(connection, tenant)

    with relay_process(
        settings,
        bootstrap=shared_broker.bootstrap,
        topic_prefix=topic_prefix,
        tenant=tenant,
        produce_delay_seconds=0.01,  # still streaming when killed
    ) as first:
        wait_until(lambda: published() >= BATCH_SIZE, timeout=30, what="the relay to get going")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = published()
    assert 0 < killed_at < head, "the relay was to be killed before it finished"

    with relay_process(
        settings, bootstrap=shared_broker.bootstrap, topic_prefix=topic_prefix, tenant=tenant
    ):
        wait_until(lambda: published() == head, timeout=30, what="the restarted relay to catch up")

    messages = read_until(
        shared_broker.bootstrap,
        tenant_topics(topic_prefix, tenant),
        lambda received: positions_of(received) >= set(range(1, head + 1)),
        timeout=20,
    )
    assert positions_of(messages) == set(range(1, head + 1))


class _Crash(BaseException):
    """The relay's process dies here (nothing in the relay catches it)."""


def test_a_relay_dying_between_acknowledgement_and_position_write_loses_nothing_in_order(
    container: Container,
    tenant: str,
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    topic_prefix: str,
    relay_for: RelayFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = some_orgs(app, 10)
    assert relay_for(shared_broker.bootstrap, batch_size=BATCH_SIZE).run_once() == recorded
    head = some_orgs(app, 10, renamed=True)

    def dies_before_recording(*args: object, **kwargs: object) -> None:
        raise _Crash  # the broker acknowledged what this write would record

    monkeypatch.setattr("streams.relay.record_acknowledged", dies_before_recording)
    with pytest.raises(_Crash):
        relay_for(shared_broker.bootstrap, batch_size=BATCH_SIZE).run_once()
    with container.engine.connect() as connection:
        assert published_position(connection, tenant) == recorded
    monkeypatch.setattr("streams.relay.record_acknowledged", record_acknowledged)

    successor = relay_for(shared_broker.bootstrap, batch_size=BATCH_SIZE)
    assert successor.run_once() == head - recorded

    messages = read_until(
        shared_broker.bootstrap,
        tenant_topics(topic_prefix, tenant),
        lambda received: positions_of(received) >= set(range(1, head + 1)),
        timeout=20,
    )
    by_partition: dict[tuple[str, int], list[int]] = {}
    for message in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        position = int(message.header("position") or b"0")
        by_partition.setdefault((message.topic, message.partition), []).append(position)
    for positions in by_partition.values():
        first_seen = list(dict.fromkeys(positions))
        assert first_seen == sorted(first_seen), "each partition in store order"
        twice = [p for p in first_seen if positions.count(p) > 1]
        # Only what was acknowledged but not recorded comes again, and only once more.
        assert all(p > recorded and positions.count(p) == 2 for p in twice)
    assert positions_of(messages) == set(range(1, head + 1))
