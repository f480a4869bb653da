"""Turns stored events into Kafka messages (Avro single-object encoding) and back.

Key = aggregate id; headers `event-type`, `position` (store notification id), `tenant`,
`occurred-at` and `schema-fingerprint`; topic `{prefix}.{tenant}.{family}.v1`.
"""

from __future__ import annotations

import binascii
import io
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any
from uuid import UUID

import fastavro
import orjson
from eventsourcing.domain import Aggregate

from domain.sealing import SealedValue
from streams import avro_encoding
from streams.avro_reading import Reader, UnsupportedReaderSchemaError, compile_reader, same_value
from streams.avro_writer import UnsupportedSchemaError, Writer, compile_writer
from streams.event_types import EventType, by_topic, by_type_name
from streams.kafka_transport import OutgoingMessage, ReceivedMessage
from streams.schemas import SchemaRegistry, event_fields

_ERROR_TEXT_LIMIT = 1000
logger = logging.getLogger(__name__)


class UndecodableMessageError(Exception):
    """Raised when a message lacks the headers or value an event message must have."""


@dataclass(frozen=True)
class EventEnvelope:
    """A decoded event message, as consumers see it."""

    tenant: str
    position: int
    event_type: str
    aggregate_id: UUID
    aggregate_version: int
    occurred_at: datetime
    #: The Avro record: event fields by name; sealed fields are dicts (subject, retention,
    #: nonce, ciphertext) and stay ciphertext.
    payload: dict[str, Any]
    topic: str = ""
    partition: int = 0
    offset: int = -1

    @property
    def family(self) -> str:
        return self.event_type.split(".")[2]


#: A header on a parked event the relay published again (`digione relay retry`): consumers
#: that applied later positions of the tenant already apply it all the same, once.
RETRY_HEADER = "relay-retry"


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """A consumed message, decoded when it could be; a handler gets every message, so it
    can account for each (apply, skip or park it)."""

    offset: int
    #: The store position of its header; None when it has no readable one.
    position: int | None
    aggregate_id: str | None
    event_type: str | None
    envelope: EventEnvelope | None = None
    #: Why it could not be decoded, or why it does not belong on its topic.
    error: str | None = None
    #: It names another tenant than its topic's, so its position is of another store.
    other_tenant: bool = False
    #: A parked event the relay published again after later ones (RETRY_HEADER).
    retried: bool = False


def family_topic(prefix: str, tenant: str, family: str) -> str:
    return f"{prefix}.{tenant}.{family}.v1"


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), so any client agrees on it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@lru_cache(maxsize=64)
def _words(count: int) -> Callable[[bytes], tuple[Any, ...]]:
    """Unpacks the first `count` little-endian 4-byte words of a key."""
    return struct.Struct(f"<{count}I").unpack_from


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's Java client computes it (`Utils.murmur2`, seed 0x9747b28c):
    the same numbers as kafka-python's `murmur2`, in half its time. That one reads the key a
    byte at a time; this takes its 4-byte words in one unpack. A store rebuild asks for the
    partition of each aggregate it meets (8% of its time with kafka-python's)."""
    length = len(data)
    h = 0x9747B28C ^ length
    for k in _words(length >> 2)(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        end = length - tail
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


@lru_cache(maxsize=1 << 16)
def _cached_partition(key: str, partitions: int) -> int:
    """`partition_for` of an aggregate id's text: murmur2 is pure Python, and a store
    rebuild asks again for each event of an aggregate."""
    return partition_for(key.encode(), partitions)


@cache
def _field_names(event_type: EventType) -> tuple[str, ...]:
    # Resolving the type hints costs ten times the rest of encoding: once per type will do.
    return tuple(name for name, _ in event_fields(event_type))


def _avro_value(value: Any) -> Any:
    if isinstance(value, SealedValue):
        return {
            "subject": str(value.subject),
            "retention": value.retention.value,
            "nonce": value.nonce,
            "ciphertext": value.ciphertext,
        }
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [_avro_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _avro_value(v) for k, v in value.items()}
    return value


class NotEncodableFromStoredError(Exception):
    """Raised when a stored record cannot be encoded straight from its stored state (an
    older class version to upcast, a value of a type the fast path does not know): the
    caller decodes it to its domain event and encodes that instead (`EventCodec.encode`)."""


def _uuid_text(hex_text: str) -> str:
    """`str(UUID(hex=hex_text))`, cut from the text when it is the 32 hex digits eventsourcing
    stores (a UUID object built and printed is most of the cost of a sealed field)."""
    if len(hex_text) == 32 and len(bytes.fromhex(hex_text)) == 16:
        h = hex_text.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(UUID(hex=hex_text))


def _sealed_record(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": _uuid_text(data["subject"]),
        "retention": data["retention"],
        # base64.b64decode without its wrapper (the same non-strict decoding).
        "nonce": binascii.a2b_base64(data["nonce"]),
        "ciphertext": binascii.a2b_base64(data["ciphertext"]),
    }


#: Stored JSON transcodings (eventsourcing's and domain/transcodings.py) → what
#: `_avro_value` makes of the value they decode to.
_FROM_STORED: dict[str, Any] = {
    "sealed": _sealed_record,
    "uuid_hex": _uuid_text,
    "decimal_str": float,
    "date_iso": date.fromisoformat,
    "datetime_iso": datetime.fromisoformat,
}


def _from_stored(value: Any) -> Any:
    """A value of a stored event's JSON state as `_avro_value` makes it of the decoded one."""
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            convert = _FROM_STORED.get(value["_type_"])
            if convert is None:
                raise NotEncodableFromStoredError(f"no fast path for {value['_type_']!r}")
            return convert(value["_data_"])
        return {k: _from_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_stored(v) for v in value]
    return value


@dataclass(slots=True)
class _StoredType:
    """What encoding an event type from its stored state needs, worked out once."""

    type_name: str
    family: str
    class_version: int
    field_names: tuple[str, ...]
    parsed_schema: Any
    #: The schema's compiled writer (streams/avro_writer.py); None: fastavro writes it.
    writer: Writer | None
    #: Whether the compiled writer's bytes were compared with fastavro's yet (once).
    writer_checked: bool
    #: The single-object header: magic and the writer schema's fingerprint.
    value_header: bytes
    type_header: bytes
    fingerprint_header: bytes
    #: What a consumer reads back for a record written with the schema (streams/
    #: avro_reading.py); None: the record is encoded and decoded instead.
    reader: Reader | None = None
    #: Whether the reader's record was compared with the decoded one yet (once).
    reader_checked: bool = False


class EventCodec:
    """Encodes domain events of a tenant's store into messages, and decodes messages."""

    def __init__(self, registry: SchemaRegistry, *, topic_prefix: str, partitions: int) -> None:
        self.registry = registry
        self.topic_prefix = topic_prefix
        self.partitions = partitions
        self._stored_types: dict[str, _StoredType] = {}
        self._topics: dict[tuple[str, str], str] = {}

    def _stored_type(self, stored_topic: str) -> _StoredType:
        found = self._stored_types.get(stored_topic)
        if found is None:
            event_type = by_topic()[stored_topic]
            schema = self.registry.current(event_type.type_name)
            try:
                writer: Writer | None = compile_writer(schema.parsed, _from_stored)
            except UnsupportedSchemaError:
                writer = None
            try:
                reader: Reader | None = compile_reader(schema.parsed)
            except UnsupportedReaderSchemaError:
                reader = None
            found = _StoredType(
                type_name=event_type.type_name,
                family=event_type.family,
                class_version=getattr(event_type.event_class, "class_version", 1),
                field_names=_field_names(event_type),
                parsed_schema=schema.parsed,
                writer=writer,
                writer_checked=False,
                value_header=avro_encoding.MAGIC + schema.fingerprint,
                type_header=event_type.type_name.encode(),
                fingerprint_header=schema.fingerprint_hex.encode(),
                reader=reader,
            )
            self._stored_types[stored_topic] = found
        return found

    def encode_stored(
        self,
        tenant: str,
        position: int,
        stored_topic: str,
        aggregate_id: UUID | str,
        aggregate_version: int,
        state: bytes,
    ) -> OutgoingMessage:
        """The message `encode` makes of the event, made straight from its stored record
        (eventsourcing's JSON state, neither compressed nor encrypted), without building the
        domain event. The partition is left to the producer (murmur2 of the key, as
        `partition_for`). NotEncodableFromStoredError when the record needs the slow path;
        KeyError for an event type the codec does not know."""
        stored_type = self._stored_type(stored_topic)
        values = _stored_values(stored_type, state)
        # The id's text: a PostgreSQL row gives it as str(UUID) writes it, which str() hands
        # back as it is; a UUID is printed.
        aggregate_text = str(aggregate_id)
        occurred = values["timestamp"]
        record: dict[str, Any] = {
            "aggregate_id": aggregate_text,
            "aggregate_version": aggregate_version,
            "occurred_at": occurred,
        }
        for name in stored_type.field_names:
            record[name] = values[name]
        value = bytearray(stored_type.value_header)
        if stored_type.writer is not None:
            stored_type.writer(record, value)
            if not stored_type.writer_checked:
                self._check_writer(stored_type, record, value)
        else:
            self._write_with_fastavro(stored_type, record, value)
        topic = self._family_topic(tenant, stored_type.family)
        return OutgoingMessage(
            topic=topic,
            key=aggregate_text.encode(),
            value=bytes(value),
            headers=[
                ("event-type", stored_type.type_header),
                ("position", str(position).encode()),
                ("tenant", tenant.encode()),
                ("occurred-at", occurred["_data_"].encode()),
                ("schema-fingerprint", stored_type.fingerprint_header),
            ],
        )

    def envelope_from_stored(
        self,
        tenant: str,
        position: int,
        stored_topic: str,
        aggregate_id: UUID | str,
        aggregate_version: int,
        state: bytes,
    ) -> EventEnvelope:
        """What a consumer decodes from the message `encode_stored` makes of the event
        (`decode` of it, with offset -1 and the partition `partition_for` names), made
        straight from the stored record without writing or reading Avro bytes.

        The first record of each type is also encoded and decoded, and compared: should the
        two ever differ, that type takes the round trip from then on. Raises as
        `encode_stored` does (NotEncodableFromStoredError: take the domain event's path,
        `round_trip`)."""
        stored_type = self._stored_type(stored_topic)
        reader = stored_type.reader
        if reader is None or not stored_type.reader_checked:
            return self._checked_envelope(
                stored_type, tenant, position, stored_topic, aggregate_id, aggregate_version, state
            )
        values = _stored_values(stored_type, state)
        aggregate_text = str(aggregate_id)  # as in encode_stored
        record: dict[str, Any] = {
            "aggregate_id": aggregate_text,
            "aggregate_version": aggregate_version,
            "occurred_at": _from_stored(values["timestamp"]),
        }
        for name in stored_type.field_names:
            record[name] = _from_stored(values[name])
        return self._envelope(stored_type, tenant, position, reader(record), aggregate_text)

    def _family_topic(self, tenant: str, family: str) -> str:
        topic_key = (tenant, family)
        topic = self._topics.get(topic_key)
        if topic is None:
            topic = self._topics[topic_key] = family_topic(self.topic_prefix, tenant, family)
        return topic

    def _envelope(
        self,
        stored_type: _StoredType,
        tenant: str,
        position: int,
        record: dict[str, Any],
        aggregate_text: str,
    ) -> EventEnvelope:
        """The envelope of a record read back; `aggregate_text` is its aggregate id as
        str(UUID) writes it, which the reader made a UUID of (printing it again was 2% of a
        store rebuild)."""
        aggregate_id = record.pop("aggregate_id")
        topic = self._family_topic(tenant, stored_type.family)
        return EventEnvelope(
            tenant=tenant,
            position=position,
            event_type=stored_type.type_name,
            aggregate_id=aggregate_id,
            aggregate_version=int(record.pop("aggregate_version")),
            occurred_at=_utc(record.pop("occurred_at")),
            payload=record,
            topic=topic,
            partition=_cached_partition(aggregate_text, self.partitions),
            offset=-1,
        )

    def _checked_envelope(
        self,
        stored_type: _StoredType,
        tenant: str,
        position: int,
        stored_topic: str,
        aggregate_id: UUID | str,
        aggregate_version: int,
        state: bytes,
    ) -> EventEnvelope:
        """The round trip's envelope; the reader's compared with it, the first time."""
        message = self.encode_stored(
            tenant, position, stored_topic, aggregate_id, aggregate_version, state
        )
        decoded = self.decode(
            ReceivedMessage(
                topic=message.topic,
                partition=partition_for(message.key or b"", self.partitions),
                offset=-1,
                key=message.key,
                value=message.value,
                headers=message.headers,
                timestamp_ms=0,
            )
        )
        if stored_type.reader is not None and not stored_type.reader_checked:
            stored_type.reader_checked = True
            try:
                fast: EventEnvelope | None = self.envelope_from_stored(
                    tenant, position, stored_topic, aggregate_id, aggregate_version, state
                )
            except UnsupportedReaderSchemaError:
                fast = None
            if fast is None or not (
                fast.aggregate_id == decoded.aggregate_id
                and type(fast.aggregate_id) is type(decoded.aggregate_id)
                and fast.aggregate_version == decoded.aggregate_version
                and same_value(fast.occurred_at, decoded.occurred_at)
                and same_value(fast.payload, decoded.payload)
                and (fast.topic, fast.partition) == (decoded.topic, decoded.partition)
            ):
                logger.warning(
                    "records of %s read straight from the store differ from decoded ones; "
                    "they are encoded and decoded",
                    stored_type.type_name,
                )
                stored_type.reader = None
        return decoded

    def _write_with_fastavro(
        self, stored_type: _StoredType, record: dict[str, Any], value: bytearray
    ) -> None:
        converted = {name: _from_stored(field) for name, field in record.items()}
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, stored_type.parsed_schema, converted)
        value += buffer.getvalue()

    def _check_writer(
        self, stored_type: _StoredType, record: dict[str, Any], value: bytearray
    ) -> None:
        """The first record of each type is written by fastavro too: should the compiled
        writer ever disagree, fastavro writes that type from then on."""
        expected = bytearray(stored_type.value_header)
        self._write_with_fastavro(stored_type, record, expected)
        stored_type.writer_checked = True
        if expected != value:
            logger.warning(
                "the compiled Avro writer of %s disagrees with fastavro; fastavro writes it",
                stored_type.type_name,
            )
            stored_type.writer = None
            value[:] = expected

    def encode(self, tenant: str, position: int, event: Aggregate.Event) -> OutgoingMessage:
        event_type = by_topic()[f"{type(event).__module__}:{type(event).__qualname__}"]
        schema = self.registry.current(event_type.type_name)
        occurred_at = event.timestamp
        record: dict[str, Any] = {
            "aggregate_id": str(event.originator_id),
            "aggregate_version": event.originator_version,
            "occurred_at": occurred_at,
        }
        for name in _field_names(event_type):
            record[name] = _avro_value(getattr(event, name))
        key = str(event.originator_id).encode()
        headers = [
            ("event-type", event_type.type_name.encode()),
            ("position", str(position).encode()),
            ("tenant", tenant.encode()),
            ("occurred-at", occurred_at.isoformat().encode()),
            ("schema-fingerprint", schema.fingerprint_hex.encode()),
        ]
        return OutgoingMessage(
            topic=family_topic(self.topic_prefix, tenant, event_type.family),
            key=key,
            value=avro_encoding.encode(schema.parsed, record),
            headers=headers,
            partition=partition_for(key, self.partitions),
        )

    def decode(self, message: ReceivedMessage) -> EventEnvelope:
        event_type = _header(message, "event-type")
        if event_type not in by_type_name():
            raise UndecodableMessageError(f"unknown event type {event_type!r}")
        if message.value is None:
            raise UndecodableMessageError("a message without a value is not an event")
        record = avro_encoding.decode(message.value, self.registry.resolve)
        return EventEnvelope(
            tenant=_header(message, "tenant"),
            position=int(_header(message, "position")),
            event_type=event_type,
            aggregate_id=UUID(str(record.pop("aggregate_id"))),
            aggregate_version=int(record.pop("aggregate_version")),
            occurred_at=_utc(record.pop("occurred_at")),
            payload=record,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def round_trip(self, tenant: str, position: int, event: Aggregate.Event) -> EventEnvelope:
        """The stored event as a consumer of its message decodes it (what the auditors'
        replay of the store shows, so that it equals a replay of the topics)."""
        message = self.encode(tenant, position, event)
        return self.decode(
            ReceivedMessage(
                topic=message.topic,
                partition=message.partition or 0,
                offset=-1,
                key=message.key,
                value=message.value,
                headers=message.headers,
                timestamp_ms=0,
            )
        )

    def decode_consumed(self, message: ReceivedMessage, *, tenant: str) -> DecodedMessage:
        """Decodes a message read from a topic of `tenant`. Never raises: a message that
        does not decode, or names another tenant, comes back with its error and what its
        headers say (a consumer accounts for every message, parking what it cannot apply)."""
        try:
            envelope = self.decode(message)
        except Exception as error:  # noqa: BLE001 - whatever the bytes, the message is parked
            # The type and message of a decoding error: it holds no field values.
            text = f"{type(error).__name__}: {error}".strip()[:_ERROR_TEXT_LIMIT]
            return DecodedMessage(
                offset=message.offset,
                position=header_position(message),
                aggregate_id=_text_or_none(message.key),
                event_type=_text_or_none(message.header("event-type")),
                error=f"undecodable: {text}",
            )
        # Tenant isolation (DESIGN.md invariant 6): a tenant's topics only ever feed events
        # about that tenant.
        other_tenant = envelope.tenant != tenant
        return DecodedMessage(
            offset=message.offset,
            position=envelope.position,
            aggregate_id=str(envelope.aggregate_id),
            event_type=envelope.event_type,
            envelope=envelope,
            error=(
                f"the message names tenant {envelope.tenant!r} on a topic of tenant {tenant!r}"
                if other_tenant
                else None
            ),
            other_tenant=other_tenant,
            retried=message.header(RETRY_HEADER) is not None,
        )


def header_position(message: ReceivedMessage) -> int | None:
    """The store position in the message's `position` header; None when it has no readable one."""
    value = message.header("position")
    if value is None:
        return None
    try:
        return int(value.decode())
    except (UnicodeDecodeError, ValueError):
        return None


def _text_or_none(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace")[:64]


def _header(message: ReceivedMessage, name: str) -> str:
    value = message.header(name)
    if value is None:
        raise UndecodableMessageError(f"the message has no {name!r} header")
    return value.decode()


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise UndecodableMessageError("occurred_at is not a timestamp")


def _stored_values(stored_type: _StoredType, state: bytes) -> dict[str, Any]:
    """The stored record's JSON state, if the fast paths can take it: plain JSON, written by
    the class version the codec knows (else NotEncodableFromStoredError)."""
    try:
        values: dict[str, Any] = orjson.loads(state)
    except orjson.JSONDecodeError as error:
        raise NotEncodableFromStoredError("the stored state is not plain JSON") from error
    if values.get("class_version", 1) != stored_type.class_version:
        raise NotEncodableFromStoredError("stored with another class version: upcast")
    return values
