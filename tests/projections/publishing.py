"""Publishing a tenant's stored events as the relay will, for tests of consumers.

The relay (streams/relay.py) is built separately; this stand-in does the same observable
work: reads the notification log, encodes each event with the codec, publishes to the
family topics and records in relay_positions what the broker acknowledged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import cast

from eventsourcing.domain import Aggregate
from sqlalchemy.engine import Engine

from domain.application import TenantApplication
from streams.codec import EventCodec
from streams.event_types import FAMILIES
from streams.kafka_transport import KafkaPythonTransport, OutgoingMessage, ensure_topics
from streams.positions import create_tables, record_published
from streams.schemas import default_registry

PARTITIONS = 3


class StorePublisher:
    """Publishes one tenant's store to Kafka; `publish()` sends what is new since last time."""

    def __init__(
        self,
        *,
        app: TenantApplication,
        engine: Engine,
        bootstrap: str,
        topic_prefix: str = "digione",
        record_positions: bool = True,
    ) -> None:
        self.app = app
        self.tenant = app.tenant
        self.engine = engine
        self.bootstrap = bootstrap
        self.codec = EventCodec(
            default_registry(), topic_prefix=topic_prefix, partitions=PARTITIONS
        )
        self.record_positions = record_positions
        self.published = 0
        self.partition_positions: dict[tuple[str, int], int] = {}
        #: How many messages went to each (topic, partition): its end offset on a new topic.
        self.sent: Counter[tuple[str, int]] = Counter()
        create_tables(engine)
        self._transport = KafkaPythonTransport(bootstrap, client_id="digione-test-publisher")
        ensure_topics(
            bootstrap,
            [f"{topic_prefix}.{self.tenant}.{family}.v1" for family in FAMILIES],
            PARTITIONS,
        )

    def messages(self, *, after: int = 0, until: int | None = None) -> list[OutgoingMessage]:
        """The messages of the stored events after position `after` (up to `until`)."""
        notifications = self.app.recorder.select_notifications(
            after + 1, limit=1_000_000, stop=until
        )
        return [
            self.codec.encode(
                self.tenant, n.id, cast(Aggregate.Event, self.app.mapper.to_domain_event(n))
            )
            for n in notifications
        ]

    def publish(self, *, again_from: int | None = None, until: int | None = None) -> int:
        """Publishes new events (or, with `again_from`, everything after it again); returns
        the highest position published."""
        after = self.published if again_from is None else again_from
        messages = self.messages(after=after, until=until)
        self.send(messages)
        return self.published

    def send(self, messages: Iterable[OutgoingMessage]) -> None:
        batch = list(messages)
        self._transport.publish(batch)
        for message in batch:
            position = int(dict(message.headers)["position"])
            assert message.partition is not None
            key = (message.topic, message.partition)
            self.sent[key] += 1
            self.partition_positions[key] = max(self.partition_positions.get(key, 0), position)
            self.published = max(self.published, position)
        if self.record_positions:
            with self.engine.begin() as connection:
                record_published(connection, self.tenant, self.published, self.partition_positions)

    def end_offsets(self, family: str) -> dict[tuple[str, int], int]:
        """The end offset of each partition of the family's topic that got messages."""
        return {k: n for k, n in self.sent.items() if k[0].endswith(f".{family}.v1")}

    def close(self) -> None:
        self._transport.close()
