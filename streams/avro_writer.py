"""Avro binary writers compiled once per schema: the relay's hot path.

fastavro's `schemaless_writer` interprets the schema for every record (its field lists,
logical types, the best match of a union), which was half the relay's time per event. A
writer compiled here is a tree of small functions, one per schema node, that writes the
same bytes (Avro specification 1.11, "Binary encoding"). It covers the schemas of the
event catalogue: records, enums, arrays, maps, fixed, the primitives, unions of null and
one other type, and the uuid, date and timestamp logical types. `compile_writer` raises
UnsupportedSchemaError for anything else, and the caller keeps fastavro for that schema.

Each node first passes a JSON object it is given through `convert`: the codec hands the
writer the stored JSON state of an event, where values of other types are tagged objects
(`{"_type_": "sealed", "_data_": ...}`), and `convert` turns them into what the domain
event would hold. A value the writer does not expect raises (TypeError, KeyError,
ValueError, UnsupportedValueError), and the caller encodes that event the slow way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Final

__all__ = ["UnsupportedSchemaError", "UnsupportedValueError", "Writer", "compile_writer"]

#: Writes one value onto the end of the buffer.
Writer = Callable[[Any, bytearray], None]
Convert = Callable[[Any], Any]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAYS: Final = date(1970, 1, 1).toordinal()
_DOUBLE: Final = struct.Struct("<d").pack
_FLOAT: Final = struct.Struct("<f").pack


class UnsupportedSchemaError(ValueError):
    """Raised when a schema uses something the compiled writers do not cover."""


class UnsupportedValueError(ValueError):
    """Raised when a value is not one the compiled writer writes as fastavro would."""


def write_long(out: bytearray, value: int) -> None:
    """Zig-zag, then base-128 varint, least significant group first."""
    number = (value << 1) ^ (value >> 63)
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)


def compile_writer(parsed_schema: Any, convert: Convert) -> Writer:
    """A writer of records of the (fastavro-parsed) schema; see the module's doc."""
    return _Compiler(convert).node(parsed_schema)


class _Compiler:
    def __init__(self, convert: Convert) -> None:
        self._convert = convert
        #: Named types by full name; a record's entry is filled once compiled (recursion).
        self._named: dict[str, list[Writer]] = {}

    def node(self, schema: Any) -> Writer:
        if isinstance(schema, str):
            return self._by_name(schema)
        if isinstance(schema, list):
            return self._union(schema)
        if not isinstance(schema, dict):
            raise UnsupportedSchemaError(f"unexpected schema node {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical is not None:
            return self._logical(kind, logical)
        if kind == "record":
            return self._record(schema)
        if kind == "enum":
            return self._enum(schema)
        if kind == "array":
            return self._array(self.node(schema["items"]))
        if kind == "map":
            return self._map(self.node(schema["values"]))
        if kind == "fixed":
            return self._fixed(schema)
        if isinstance(kind, str | list | dict):
            return self.node(kind)
        raise UnsupportedSchemaError(f"unexpected schema node {schema!r}")

    def _by_name(self, name: str) -> Writer:
        primitive = _primitive(name, self._convert)
        if primitive is not None:
            return primitive
        cell = self._named.get(name)
        if cell is None:
            raise UnsupportedSchemaError(f"unknown named type {name!r}")

        def named(value: Any, out: bytearray) -> None:
            cell[0](value, out)

        return named

    def _register(self, schema: dict[str, Any]) -> list[Writer]:
        cell: list[Writer] = []
        self._named[schema["name"]] = cell
        return cell

    def _record(self, schema: dict[str, Any]) -> Writer:
        cell = self._register(schema)
        fields = tuple((field["name"], self.node(field["type"])) for field in schema["fields"])
        convert = self._convert

        def record(value: Any, out: bytearray) -> None:
            if type(value) is dict and "_type_" in value:
                value = convert(value)
            for name, write in fields:
                write(value[name], out)

        cell.append(record)
        return record

    def _enum(self, schema: dict[str, Any]) -> Writer:
        cell = self._register(schema)
        indexes = {symbol: index for index, symbol in enumerate(schema["symbols"])}

        def enum(value: Any, out: bytearray) -> None:
            write_long(out, indexes[value])

        cell.append(enum)
        return enum

    def _fixed(self, schema: dict[str, Any]) -> Writer:
        cell = self._register(schema)
        size = schema["size"]

        def fixed(value: Any, out: bytearray) -> None:
            if type(value) is not bytes or len(value) != size:
                raise UnsupportedValueError("not a fixed of its size")
            out += value

        cell.append(fixed)
        return fixed

    def _array(self, item: Writer) -> Writer:
        convert = self._convert

        def array(value: Any, out: bytearray) -> None:
            if type(value) is dict:
                value = convert(value)
            if value:
                write_long(out, len(value))
                for element in value:
                    item(element, out)
            out.append(0)

        return array

    def _map(self, item: Writer) -> Writer:
        convert = self._convert

        def map_(value: Any, out: bytearray) -> None:
            if type(value) is dict and "_type_" in value:
                value = convert(value)
            if value:
                write_long(out, len(value))
                for key, element in value.items():
                    encoded = key.encode()
                    write_long(out, len(encoded))
                    out += encoded
                    item(element, out)
            out.append(0)

        return map_

    def _union(self, branches: list[Any]) -> Writer:
        if len(branches) != 2 or "null" not in branches:
            raise UnsupportedSchemaError("only unions of null and one type are compiled")
        null_index = branches.index("null")
        other = self.node(branches[1 - null_index])
        null_tag, other_tag = (0, 2) if null_index == 0 else (2, 0)  # zig-zag of 0 and 1

        def union(value: Any, out: bytearray) -> None:
            if value is None:
                out.append(null_tag)
            else:
                out.append(other_tag)
                other(value, out)

        return union

    def _logical(self, kind: Any, logical: str) -> Writer:
        convert = self._convert
        if logical == "uuid" and kind == "string":

            def uuid_text(value: Any, out: bytearray) -> None:
                if type(value) is not str:
                    value = convert(value)
                    if type(value) is not str:
                        raise UnsupportedValueError("a uuid is written from its text")
                encoded = value.encode()
                write_long(out, len(encoded))
                out += encoded

            return uuid_text
        if logical == "timestamp-micros" and kind == "long":

            def timestamp_micros(value: Any, out: bytearray) -> None:
                value = convert(value)
                if type(value) is not datetime or value.tzinfo is None:
                    raise UnsupportedValueError("a timestamp is written from an aware datetime")
                delta = value - _EPOCH
                write_long(
                    out, (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
                )

            return timestamp_micros
        if logical == "date" and kind == "int":

            def date_days(value: Any, out: bytearray) -> None:
                value = convert(value)
                if type(value) is not date:
                    raise UnsupportedValueError("a date is written from a date")
                write_long(out, value.toordinal() - _EPOCH_DAYS)

            return date_days
        raise UnsupportedSchemaError(f"logical type {logical!r} of {kind!r} is not compiled")


def _primitive(name: str, convert: Convert) -> Writer | None:
    if name == "null":

        def null(value: Any, out: bytearray) -> None:
            if value is not None:
                raise UnsupportedValueError("null expected")

        return null
    if name == "boolean":

        def boolean(value: Any, out: bytearray) -> None:
            if type(value) is not bool:
                raise UnsupportedValueError("a boolean expected")
            out.append(1 if value else 0)

        return boolean
    if name in ("int", "long"):

        def long(value: Any, out: bytearray) -> None:
            if type(value) is not int:
                raise UnsupportedValueError("an integer expected")
            write_long(out, value)

        return long
    if name in ("float", "double"):
        pack = _DOUBLE if name == "double" else _FLOAT

        def floating(value: Any, out: bytearray) -> None:
            if type(value) is dict:
                value = convert(value)
            if type(value) is bool:
                raise UnsupportedValueError("a number expected")
            out += pack(float(value))

        return floating
    if name == "string":

        def string(value: Any, out: bytearray) -> None:
            if not isinstance(value, str):
                raise UnsupportedValueError("a string expected")
            encoded = value.encode()
            write_long(out, len(encoded))
            out += encoded

        return string
    if name == "bytes":

        def bytes_(value: Any, out: bytearray) -> None:
            if type(value) is not bytes:
                raise UnsupportedValueError("bytes expected")
            write_long(out, len(value))
            out += value

        return bytes_
    return None
