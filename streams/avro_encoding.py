"""Avro single-object encoding: magic C3 01, the writer schema's CRC-64-AVRO fingerprint, the body."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form
from fastavro.types import Schema

__all__ = [
    "FINGERPRINT_SIZE",
    "HEADER_SIZE",
    "MAGIC",
    "MalformedAvroBodyError",
    "NotSingleObjectEncodedError",
    "SingleObjectEncodingError",
    "UnknownSchemaFingerprintError",
    "decode",
    "encode",
    "fingerprint",
    "fingerprint_hex",
    "resolver_for",
]

# Avro specification 1.11, "Single-object encoding": "Single Avro objects are encoded as
# follows: 1. A two-byte marker, C3 01, to show that the message is Avro and uses this
# single-record format (version 1). 2. The 8-byte little-endian CRC-64-AVRO fingerprint of
# the object's schema. 3. The Avro object encoded using Avro's binary encoding."
# https://avro.apache.org/docs/1.11.1/specification/#single-object-encoding
MAGIC = b"\xc3\x01"
FINGERPRINT_SIZE = 8
HEADER_SIZE = len(MAGIC) + FINGERPRINT_SIZE

# The fingerprint is taken of the schema's Parsing Canonical Form ("Schema Fingerprints"
# in the same specification). Computing that form costs hundreds of microseconds, far more
# than encoding a record, so fingerprints are remembered per parsed-schema object. The
# cache holds the schema itself, so an id() is never reused for a different object while
# its entry lives; it is bounded so that callers parsing schemas repeatedly cannot grow it.
_FINGERPRINT_CACHE_SIZE = 1024
_fingerprint_cache: OrderedDict[int, tuple[Schema, bytes]] = OrderedDict()
_fingerprint_cache_lock = threading.Lock()


class SingleObjectEncodingError(ValueError):
    """Raised when bytes cannot be decoded as an Avro single-object encoded value."""


class NotSingleObjectEncodedError(SingleObjectEncodingError):
    """Raised when a value does not start with the single-object marker C3 01 and a fingerprint."""


class UnknownSchemaFingerprintError(SingleObjectEncodingError):
    """Raised when no known schema has the fingerprint a value was written with."""

    def __init__(self, schema_fingerprint: bytes) -> None:
        self.fingerprint = schema_fingerprint
        super().__init__(
            f"no writer schema is known for fingerprint {schema_fingerprint.hex()} "
            "(CRC-64-AVRO, little-endian hex); the value was written with a schema this "
            "reader was not given: add that schema (see schemas/ and its released history) "
            "to the resolver, or upgrade this consumer"
        )


class MalformedAvroBodyError(SingleObjectEncodingError):
    """Raised when the Avro body after the header does not match its writer schema."""


def fingerprint(parsed_schema: Schema) -> bytes:
    """Return the 8-byte little-endian CRC-64-AVRO fingerprint of the schema's canonical form."""
    key = id(parsed_schema)
    with _fingerprint_cache_lock:
        cached = _fingerprint_cache.get(key)
        if cached is not None and cached[0] is parsed_schema:
            _fingerprint_cache.move_to_end(key)
            return cached[1]
    # fastavro renders the 64-bit Rabin fingerprint as the hex of its little-endian bytes,
    # which is exactly the byte order single-object encoding puts on the wire.
    computed = bytes.fromhex(
        _fastavro_fingerprint(to_parsing_canonical_form(parsed_schema), "CRC-64-AVRO")
    )
    with _fingerprint_cache_lock:
        _fingerprint_cache[key] = (parsed_schema, computed)
        _fingerprint_cache.move_to_end(key)
        while len(_fingerprint_cache) > _FINGERPRINT_CACHE_SIZE:
            _fingerprint_cache.popitem(last=False)
    return computed


def fingerprint_hex(parsed_schema: Schema) -> str:
    """Return the schema fingerprint as 16 lower-case hex digits, in wire (little-endian) order."""
    return fingerprint(parsed_schema).hex()


def encode(parsed_schema: Schema, record: Mapping[str, Any]) -> bytes:
    """Encode one record as an Avro single-object encoded value with the given writer schema."""
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(fingerprint(parsed_schema))
    fastavro.schemaless_writer(buffer, parsed_schema, record)
    return buffer.getvalue()


def decode(
    data: bytes,
    resolve: Callable[[bytes], Schema | None],
    reader_schema: Schema | None = None,
) -> dict[str, Any]:
    """Decode a single-object encoded record, resolving its writer schema by fingerprint.

    `resolve` maps an 8-byte fingerprint to a parsed writer schema and returns None (or
    raises KeyError) for an unknown one. With `reader_schema`, Avro schema resolution turns
    the written record into the reader's shape (fields added with defaults are filled in).
    fastavro's SchemaResolutionError propagates when the two schemas are incompatible.
    """
    # Messages never quote the value itself: it may carry sealed personal data.
    if len(data) < HEADER_SIZE or data[: len(MAGIC)] != MAGIC:
        raise NotSingleObjectEncodedError(
            f"value of {len(data)} bytes starting {data[: len(MAGIC)].hex() or '(empty)'} is "
            f"not Avro single-object encoded: expected the marker {MAGIC.hex()} followed by an "
            f"8-byte schema fingerprint ({HEADER_SIZE} bytes at least); check that the "
            "producer writes with streams.avro_encoding.encode"
        )
    schema_fingerprint = bytes(data[len(MAGIC) : HEADER_SIZE])
    try:
        writer_schema = resolve(schema_fingerprint)
    except KeyError:
        writer_schema = None
    if writer_schema is None:
        raise UnknownSchemaFingerprintError(schema_fingerprint)

    body = io.BytesIO(data)
    body.seek(HEADER_SIZE)
    try:
        record = fastavro.schemaless_reader(body, _for_reading(writer_schema), reader_schema)
    except (EOFError, ValueError, IndexError, OverflowError) as error:
        raise MalformedAvroBodyError(
            f"the {len(data) - HEADER_SIZE}-byte Avro body does not decode with the schema "
            f"of fingerprint {schema_fingerprint.hex()} ({type(error).__name__}); the value "
            "is truncated or corrupt"
        ) from None  # the cause may quote body bytes, which can be sealed personal data
    if body.tell() != len(data):
        # A body longer than its schema needs means the fingerprint and the bytes disagree.
        raise MalformedAvroBodyError(
            f"{len(data) - body.tell()} bytes remain after decoding the Avro body with the "
            f"schema of fingerprint {schema_fingerprint.hex()}; the value is corrupt"
        )
    if not isinstance(record, dict):
        raise MalformedAvroBodyError(
            f"the schema of fingerprint {schema_fingerprint.hex()} is not an Avro record; "
            "event values must be records"
        )
    return record


#: Writer schemas as fastavro reads them fastest, by the id of the schema resolved (kept
#: beside it, so the id stays its own).
_reading: dict[int, tuple[Schema, Schema]] = {}


def _for_reading(schema: Schema) -> Schema:
    """The schema parsed with fastavro's hints: a schema parsed without them (as registries
    keep theirs, for fingerprints) is parsed again on every read, which costs more than
    the read itself."""
    found = _reading.get(id(schema))
    if found is None or found[0] is not schema:
        found = (schema, fastavro.parse_schema(schema))
        _reading[id(schema)] = found
    return found[1]


def resolver_for(parsed_schemas: Iterable[Schema]) -> Callable[[bytes], Schema | None]:
    """Return a resolver for `decode` that knows the given writer schemas by fingerprint."""
    by_fingerprint = {fingerprint(schema): schema for schema in parsed_schemas}
    return by_fingerprint.get
