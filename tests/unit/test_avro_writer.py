"""The relay's compiled Avro writers write exactly the bytes fastavro writes, for every
schema the relay writes with."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest

from streams.avro_writer import UnsupportedValueError, compile_writer
from streams.event_types import catalogue
from streams.schemas import default_registry

TYPE_NAMES = [t.type_name for t in catalogue()]


def _sample(schema: Any, names: dict[str, Any], full: bool) -> Any:
    """A value of the schema: `full` takes every union's value branch, fills arrays and maps
    with several elements and picks awkward numbers and text; otherwise the least of each."""
    if isinstance(schema, str):
        if schema in names:
            return _sample(names[schema], names, full)
        return {
            "string": "Äö €, 日本" if full else "",
            "long": -(2**62) + 3 if full else 0,
            "int": 2**31 - 1 if full else -1,
            "boolean": full,
            "double": -1.25e-7 if full else 0.0,
            "float": 0.5,
            "bytes": bytes(range(200)) if full else b"",
            "null": None,
        }[schema]
    if isinstance(schema, list):
        if full:
            return _sample(next(s for s in schema if s != "null"), names, full)
        return None if "null" in schema else _sample(schema[0], names, full)
    logical = schema.get("logicalType")
    if logical == "uuid":
        return "6f1c2a4e-5d0b-5b8e-9a47-3c1d2e0f4b19"
    if logical == "timestamp-micros":
        zone = timezone(timedelta(hours=3)) if full else UTC
        return datetime(1969 if not full else 2026, 5, 28, 9, 15, 0, 123456, tzinfo=zone)
    if logical == "date":
        return date(2026, 8, 1) if full else date(1960, 1, 1)
    kind = schema["type"]
    if kind == "record":
        names[schema["name"]] = schema
        return {f["name"]: _sample(f["type"], names, full) for f in schema["fields"]}
    if kind == "enum":
        names[schema["name"]] = schema
        return schema["symbols"][-1 if full else 0]
    if kind == "array":
        return [_sample(schema["items"], names, full) for _ in range(3 if full else 0)]
    if kind == "map":
        return {f"k{i}": _sample(schema["values"], names, full) for i in range(2 if full else 0)}
    return _sample(kind, names, full)


@pytest.mark.parametrize("type_name", TYPE_NAMES)
@pytest.mark.parametrize("generated", [True, False], ids=["generated", "tree"])
def test_the_compiled_writer_writes_the_bytes_fastavro_writes(
    type_name: str, generated: bool
) -> None:
    parsed = default_registry().current(type_name).parsed
    write = compile_writer(parsed, lambda value: value, generated=generated)
    for full in (False, True):
        record = _sample(parsed, {}, full)
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, parsed, record)

        written = bytearray()
        write(record, written)

        assert bytes(written) == expected.getvalue(), f"full={full}"


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "tree"])
def test_a_value_of_another_type_is_refused_rather_than_written_wrongly(generated: bool) -> None:
    schema = fastavro.parse_schema(
        {"type": "record", "name": "r", "fields": [{"name": "n", "type": "long"}]},
        _write_hint=False,
    )
    write = compile_writer(schema, lambda value: value, generated=generated)

    with pytest.raises(UnsupportedValueError):
        write({"n": "7"}, bytearray())
    with pytest.raises(UnsupportedValueError):
        write({"n": True}, bytearray())


def test_a_recursive_schema_is_written_by_the_tree_of_writers() -> None:
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "node",
            "fields": [
                {"name": "label", "type": "string"},
                {"name": "next", "type": ["null", "node"]},
            ],
        },
        _write_hint=False,
    )
    record = {"label": "a", "next": {"label": "b", "next": None}}
    expected = io.BytesIO()
    fastavro.schemaless_writer(expected, schema, record)
    written = bytearray()

    compile_writer(schema, lambda value: value)(record, written)

    assert bytes(written) == expected.getvalue()
