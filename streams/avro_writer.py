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


def compile_writer(parsed_schema: Any, convert: Convert, *, generated: bool = True) -> Writer:
    """A writer of records of the (fastavro-parsed) schema; see the module's doc.

    `generated`: one function of straight-line Python per schema (a call per node costs as
    much as writing it), or, when the schema is recursive or without it, the tree of one
    small function per node."""
    if generated:
        try:
            return _Generator(convert).writer(parsed_schema)
        except UnsupportedSchemaError:
            pass
    return _Compiler(convert).node(parsed_schema)


_PRIMITIVE_CODE: Final[dict[str, tuple[str, ...]]] = {
    "null": ("if {x} is not None: raise U('null expected')",),
    "boolean": (
        "if {x} is True: out.append(1)",
        "elif {x} is False: out.append(0)",
        "else: raise U('a boolean expected')",
    ),
    "long": (
        "if type({x}) is not int: raise U('an integer expected')",
        "if -64 <= {x} < 64: out.append(({x} << 1) ^ ({x} >> 63))",
        "else: write_long(out, {x})",
    ),
    "double": (
        "if type({x}) is dict: {x} = convert({x})",
        "if type({x}) is bool: raise U('a number expected')",
        "out += DOUBLE(float({x}))",
    ),
    "float": (
        "if type({x}) is dict: {x} = convert({x})",
        "if type({x}) is bool: raise U('a number expected')",
        "out += FLOAT(float({x}))",
    ),
    "string": (
        "if not isinstance({x}, str): raise U('a string expected')",
        "_b = {x}.encode()",
        "_n = len(_b)",
        "if _n < 64: out.append(_n << 1)",
        "else: write_long(out, _n)",
        "out += _b",
    ),
    "bytes": (
        "if type({x}) is not bytes: raise U('bytes expected')",
        "write_long(out, len({x}))",
        "out += {x}",
    ),
}
_PRIMITIVE_CODE["int"] = _PRIMITIVE_CODE["long"]

_LOGICAL_CODE: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("uuid", "string"): (
        "if type({x}) is not str:",
        "    {x} = convert({x})",
        "    if type({x}) is not str: raise U('a uuid is written from its text')",
        *_PRIMITIVE_CODE["string"][1:],
    ),
    ("timestamp-micros", "long"): (
        "if type({x}) is dict: {x} = convert({x})",
        "if type({x}) is not datetime or {x}.tzinfo is None:",
        "    raise U('a timestamp is written from an aware datetime')",
        "_d = {x} - EPOCH",
        "write_long(out, (_d.days * 86400 + _d.seconds) * 1000000 + _d.microseconds)",
    ),
    ("date", "int"): (
        "if type({x}) is dict: {x} = convert({x})",
        "if type({x}) is not date: raise U('a date is written from a date')",
        "write_long(out, {x}.toordinal() - EPOCH_DAYS)",
    ),
}


class _Generator:
    """Writes the Python source of one writer function for a whole schema."""

    def __init__(self, convert: Convert) -> None:
        self._lines: list[str] = []
        self._names: dict[str, Any] = {}
        self._compiling: set[str] = set()
        self._count = 0
        self._env: dict[str, Any] = {
            "convert": convert,
            "write_long": write_long,
            "U": UnsupportedValueError,
            "datetime": datetime,
            "date": date,
            "EPOCH": _EPOCH,
            "EPOCH_DAYS": _EPOCH_DAYS,
            "DOUBLE": _DOUBLE,
            "FLOAT": _FLOAT,
        }

    def writer(self, schema: Any) -> Writer:
        self._lines = ["def write(value, out):"]
        self._node(schema, "value", 1)
        namespace = dict(self._env)
        exec("\n".join(self._lines), namespace)  # noqa: S102 - source built from a schema
        written: Writer = namespace["write"]
        return written

    def _variable(self) -> str:
        self._count += 1
        return f"v{self._count}"

    def _emit(self, indent: int, *lines: str, x: str = "") -> None:
        self._lines.extend("    " * indent + line.format(x=x) for line in lines)

    def _node(self, schema: Any, x: str, indent: int) -> None:
        if isinstance(schema, str):
            if schema in _PRIMITIVE_CODE:
                self._emit(indent, *_PRIMITIVE_CODE[schema], x=x)
                return
            if schema in self._compiling or schema not in self._names:
                raise UnsupportedSchemaError(f"named type {schema!r} is recursive or unknown")
            self._node(self._names[schema], x, indent)
            return
        if isinstance(schema, list):
            self._union(schema, x, indent)
            return
        if not isinstance(schema, dict):
            raise UnsupportedSchemaError(f"unexpected schema node {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical is not None:
            code = _LOGICAL_CODE.get((logical, kind)) if isinstance(kind, str) else None
            if code is None:
                raise UnsupportedSchemaError(f"logical type {logical!r} is not compiled")
            self._emit(indent, *code, x=x)
        elif kind == "record":
            self._record(schema, x, indent)
        elif kind == "enum":
            self._names[schema["name"]] = schema
            table = f"ENUM{self._variable()}"
            self._env[table] = {
                symbol: _long_bytes(index) for index, symbol in enumerate(schema["symbols"])
            }
            self._emit(indent, f"out += {table}[{{x}}]", x=x)
        elif kind == "array":
            item = self._variable()
            self._emit(
                indent,
                "if type({x}) is dict: {x} = convert({x})",
                "if {x}:",
                "    write_long(out, len({x}))",
                f"    for {item} in {{x}}:",
                x=x,
            )
            self._node(schema["items"], item, indent + 2)
            self._emit(indent, "out.append(0)")
        elif kind == "map":
            key, item = self._variable(), self._variable()
            self._emit(
                indent,
                "if type({x}) is dict and '_type_' in {x}: {x} = convert({x})",
                "if {x}:",
                "    write_long(out, len({x}))",
                f"    for {key}, {item} in {{x}}.items():",
                x=x,
            )
            self._node("string", key, indent + 2)
            self._node(schema["values"], item, indent + 2)
            self._emit(indent, "out.append(0)")
        elif kind == "fixed":
            self._names[schema["name"]] = schema
            self._emit(
                indent,
                f"if type({{x}}) is not bytes or len({{x}}) != {int(schema['size'])}:",
                "    raise U('not a fixed of its size')",
                "out += {x}",
                x=x,
            )
        elif isinstance(kind, str | list | dict):
            self._node(kind, x, indent)
        else:
            raise UnsupportedSchemaError(f"unexpected schema node {schema!r}")

    def _record(self, schema: dict[str, Any], x: str, indent: int) -> None:
        name = schema["name"]
        self._names[name] = schema
        self._compiling.add(name)
        self._emit(indent, "if type({x}) is dict and '_type_' in {x}: {x} = convert({x})", x=x)
        for field in schema["fields"]:
            value = self._variable()
            self._emit(indent, f"{value} = {{x}}[{field['name']!r}]", x=x)
            self._node(field["type"], value, indent)
        self._compiling.discard(name)

    def _union(self, branches: list[Any], x: str, indent: int) -> None:
        if len(branches) != 2 or "null" not in branches:
            raise UnsupportedSchemaError("only unions of null and one type are compiled")
        null_index = branches.index("null")
        null_tag, other_tag = (0, 2) if null_index == 0 else (2, 0)  # zig-zag of 0 and 1
        self._emit(
            indent,
            f"if {{x}} is None: out.append({null_tag})",
            "else:",
            f"    out.append({other_tag})",
            x=x,
        )
        self._node(branches[1 - null_index], x, indent + 1)


def _long_bytes(value: int) -> bytes:
    out = bytearray()
    write_long(out, value)
    return bytes(out)


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
