"""Helpers of the relay tests: a one-tenant view of the registry, builders, topic readers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition

from api.tenants import Tenants
from domain.application import TenantApplication
from domain.commands import Actor, PutOrg
from streams.codec import family_topic
from streams.event_types import FAMILIES
from streams.kafka_transport import ReceivedMessage

T = TypeVar("T")


class OnlyTenant:
    """The registry narrowed to one tenant (or a few), so a relay on the shared test
    database publishes the test's own tenants and not what other tests left behind."""

    def __init__(self, tenants: Tenants, tenant: str, *others: str) -> None:
        self._tenants = tenants
        self._ids = [tenant, *others]

    def ids(self) -> list[str]:
        return list(self._ids)

    def add(self, tenant: str) -> None:
        """Serves one more tenant (a municipality that joins)."""
        self._ids.append(tenant)

    def get(self, tenant: str) -> TenantApplication:
        return self._tenants.get(tenant)


def some_orgs(app: TenantApplication, count: int, *, renamed: bool = False) -> int:
    """Records `count` schools (each renamed once more if `renamed`); returns the head position."""
    admin = Actor(tenant=app.tenant, role="admin", subject="admin-1")
    for number in range(count):
        app.put_org(
            admin,
            PutOrg(f"sch-{number}", "active", f"Koulu {number}", "school", f"{number:05}", None),
        )
    if renamed:
        for number in range(count):
            app.put_org(
                admin,
                PutOrg(
                    f"sch-{number}",
                    "active",
                    f"Uusi koulu {number}",
                    "school",
                    f"{number:05}",
                    None,
                ),
            )
    return app.head_position()


def wait_until(condition: Callable[[], T], *, timeout: float, what: str) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)  # the polling interval, not a guess at how long it takes


def tenant_topics(prefix: str, tenant: str) -> list[str]:
    return [family_topic(prefix, tenant, family) for family in FAMILIES]


def positions_of(messages: Iterable[ReceivedMessage]) -> set[int]:
    return {int(message.header("position") or b"0") for message in messages}


def read_until(
    bootstrap: str,
    topics: Sequence[str],
    done: Callable[[list[ReceivedMessage]], bool],
    *,
    timeout: float,
) -> list[ReceivedMessage]:
    """Read the topics from their beginning until `done(messages so far)`; fail on timeout.

    The topics may not exist yet (a broker just restarted): reading starts over until they do.
    """
    deadline = time.monotonic() + timeout
    messages: list[ReceivedMessage] = []
    while time.monotonic() < deadline:
        messages = _read_once(bootstrap, topics, done, deadline)
        if done(messages):
            return messages
    raise AssertionError(
        f"timed out after {timeout:g} s reading {len(topics)} topics; "
        f"{len(messages)} messages read, positions {sorted(positions_of(messages))[:20]}…"
    )


def _read_once(
    bootstrap: str,
    topics: Sequence[str],
    done: Callable[[list[ReceivedMessage]], bool],
    deadline: float,
) -> list[ReceivedMessage]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        max_poll_records=5000,
    )
    try:
        assigned = []
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                return []
            assigned += [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        messages: list[ReceivedMessage] = []
        while time.monotonic() < deadline and not done(messages):
            for records in consumer.poll(timeout_ms=200).values():
                messages.extend(
                    ReceivedMessage(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers=tuple(r.headers),
                        timestamp_ms=r.timestamp,
                    )
                    for r in records
                )
        return messages
    finally:
        consumer.close()
