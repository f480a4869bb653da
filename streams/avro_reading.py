"""What a consumer reads back for a value written with an Avro schema, without the bytes.

`compile_reader(schema)` returns a function that turns a writer's input (what
`fastavro.schemaless_writer` is given for the schema, e.g. a stored event's fields as
streams/codec.py converts them) into the value `fastavro.schemaless_reader` gives for the
written bytes: uuid strings come back as UUIDs, timestamps as aware UTC datetimes, doubles
as floats, records as dicts of their schema's fields. The store rebuild of projections
(projections/store_rebuild.py) builds its handlers' records this way, skipping the encode
and decode round trip; EventCodec checks it against the round trip for the first record of
every type and falls back to the round trip should they ever differ.

Schemas beyond what the event schemas use (unions of more than null and one type, fixed
decimals, millisecond timestamps) raise UnsupportedReaderSchemaError: the caller takes the
round trip for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

__all__ = ["Reader", "UnsupportedReaderSchemaError", "compile_reader", "same_value"]

#: Turns a writer's input into what a reader of the written bytes gets.
Reader = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)


class UnsupportedReaderSchemaError(Exception):
    """Raised for a schema construct `compile_reader` does not mirror."""


def _same(value: Any) -> Any:
    return value


def _float(value: Any) -> float:
    return float(value)


def _bytes(value: Any) -> bytes:
    return bytes(value)


def _none(_: Any) -> None:
    return None


def _uuid(value: Any) -> UUID:
    return value if type(value) is UUID else UUID(str(value))


def _timestamp_micros(value: Any) -> datetime:
    if isinstance(value, datetime):
        # fastavro writes a naive datetime as UTC and reads every one back in UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return _EPOCH + timedelta(microseconds=int(value))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return _EPOCH_DATE + timedelta(days=int(value))


_PRIMITIVES: dict[str, Reader] = {
    "null": _none,
    "boolean": _same,
    "int": _same,
    "long": _same,
    "float": _float,
    "double": _float,
    "string": _same,
    "bytes": _bytes,
}

_LOGICAL: dict[tuple[str, str], Reader] = {
    ("string", "uuid"): _uuid,
    ("long", "timestamp-micros"): _timestamp_micros,
    ("int", "date"): _date,
}


def compile_reader(schema: Any) -> Reader:
    """The reader mirror of a parsed schema (fastavro.parse_schema's output)."""
    return _compile(schema, {})


def _compile(schema: Any, named: dict[str, Reader]) -> Reader:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        if schema in named:
            return named[schema]
        raise UnsupportedReaderSchemaError(f"unknown named type {schema!r}")
    if isinstance(schema, list):
        return _union(schema, named)
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical is not None:
        found = _LOGICAL.get((kind, logical))
        if found is None:
            raise UnsupportedReaderSchemaError(f"logical type {logical!r} of {kind!r}")
        return found
    if kind == "record":
        return _record(schema, named)
    if kind == "enum":
        named[schema["name"]] = _same
        return _same
    if kind == "array":
        item = _compile(schema["items"], named)
        if item is _same:
            return list
        return lambda values: [item(v) for v in values]
    if kind == "map":
        value_reader = _compile(schema["values"], named)
        return lambda values: {k: value_reader(v) for k, v in values.items()}
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise UnsupportedReaderSchemaError(f"type {kind!r}")


def _union(branches: list[Any], named: dict[str, Reader]) -> Reader:
    others = [b for b in branches if b != "null"]
    if len(others) != 1 or len(branches) > 2:
        raise UnsupportedReaderSchemaError("a union of more than null and one type")
    other = _compile(others[0], named)
    if len(branches) == 1:
        return other
    return lambda value: None if value is None else other(value)


def _record(schema: dict[str, Any], named: dict[str, Reader]) -> Reader:
    fields: list[tuple[str, Reader, bool, Any]] = []

    def read(values: Any) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for name, reader, has_default, default in fields:
            if name in values:
                record[name] = reader(values[name])
            elif has_default:
                record[name] = reader(default)
            else:
                raise UnsupportedReaderSchemaError(f"no value for field {name!r}")
        return record

    # Named before its fields: a field may refer to the record itself.
    named[schema["name"]] = read
    for field in schema["fields"]:
        fields.append(
            (
                field["name"],
                _compile(field["type"], named),
                "default" in field,
                field.get("default"),
            )
        )
    return read


def same_value(a: Any, b: Any) -> bool:
    """Whether two decoded values are the same: equal, of the same types throughout (a str
    enum is not a str, an aware datetime has the same offset)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    return bool(a == b)
