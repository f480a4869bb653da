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
from streams.broker import EmbeddedBroker
from streams.positions import create_tables, published_position
from tests.relay.conftest import PARTITIONS
from tests.relay.support import positions_of, read_until, some_orgs, tenant_topics, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
BATCH_SIZE = 10


@contextmanager
def relay_process(
    settings: Settings, *, bootstrap: str, topic_prefix: str, tenant: str
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
        settings, bootstrap=shared_broker.bootstrap, topic_prefix=topic_prefix, tenant=tenant
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
