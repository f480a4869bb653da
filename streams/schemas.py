"""Avro schemas of the event types: generation from the domain, the registry, releases.

`schemas/<full name>.avsc` is the current schema of each event type; `schemas/released/
<full name>/<n>.avsc` its released history, which a generator never overwrites and which
every new schema must stay compatible with (checked by tests/unit/test_schema_history.py).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

import fastavro

from domain.sealing import RetentionClass, SealedValue
from streams.avro_encoding import fingerprint, fingerprint_hex
from streams.event_types import NAMESPACE, EventType, catalogue

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
RELEASED_DIR = SCHEMA_DIR / "released"

#: Fields every event carries, filled from eventsourcing's own event attributes.
_ENVELOPE_FIELDS: list[dict[str, Any]] = [
    {
        "name": "aggregate_id",
        "type": {"type": "string", "logicalType": "uuid"},
        "doc": "The aggregate the event belongs to (uuid5 of tenant, collection, sourcedId).",
    },
    {"name": "aggregate_version", "type": "long", "doc": "Version of the aggregate after it."},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
]
_BASE_ATTRIBUTES = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_id_type",
    "originator_topic",
}

SEALED_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Sealed",
    "namespace": NAMESPACE,
    "doc": "Personal data: AES-256-GCM ciphertext under the key of its data subject and "
    "retention class. Without that key (after erasure) it is unreadable.",
    "fields": [
        {"name": "subject", "type": {"type": "string", "logicalType": "uuid"}},
        {
            "name": "retention",
            "type": {
                "type": "enum",
                "name": "RetentionClass",
                "namespace": NAMESPACE,
                "symbols": [r.value for r in RetentionClass],
            },
        },
        {"name": "nonce", "type": "bytes"},
        {"name": "ciphertext", "type": "bytes"},
    ],
}
ROLE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Role",
    "namespace": NAMESPACE,
    "doc": "A user's role in an organisation (OneRoster Role); org is a sourcedId.",
    "fields": [
        {"name": "role_type", "type": "string"},
        {"name": "role", "type": "string"},
        {"name": "org", "type": "string"},
        {
            "name": "begin_date",
            "type": ["null", {"type": "int", "logicalType": "date"}],
            "default": None,
        },
        {
            "name": "end_date",
            "type": ["null", {"type": "int", "logicalType": "date"}],
            "default": None,
        },
    ],
}


KEPT_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "KeptRetention",
    "namespace": NAMESPACE,
    "doc": "A retention class kept after an erasure request: until when, on what ground.",
    "fields": [
        {"name": "retention", "type": "string"},
        {
            "name": "until",
            "type": ["null", {"type": "int", "logicalType": "date"}],
            "default": None,
        },
        {"name": "ground", "type": "string"},
    ],
}


class SchemaReleasedError(Exception):
    """Raised when generating would overwrite a released schema with a different one."""


class _NamedTypes:
    """Avro defines a named type once per schema; later uses refer to it by name."""

    def __init__(self) -> None:
        self.defined: set[str] = set()

    def use(self, schema: dict[str, Any]) -> dict[str, Any] | str:
        full_name = f"{schema['namespace']}.{schema['name']}"
        if full_name in self.defined:
            return full_name
        self.defined.add(full_name)
        if schema is SEALED_SCHEMA:
            self.defined.add(f"{NAMESPACE}.RetentionClass")
        return schema


def _avro_type(hint: Any, field_name: str, named: _NamedTypes) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"{field_name}: only `X | None` unions are supported")
        return ["null", _avro_type(members[0], field_name, named)]
    if origin is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _avro_type(item, field_name, named)}
    if origin is dict or hint is dict:
        if field_name in ("role", "roles"):
            return named.use(ROLE_SCHEMA)
        if field_name == "kept":
            return named.use(KEPT_SCHEMA)
        raise TypeError(f"{field_name}: a dict field needs a named record schema")
    simple: dict[Any, Any] = {
        str: "string",
        int: "long",
        bool: "boolean",
        float: "double",
        Decimal: "double",
        UUID: {"type": "string", "logicalType": "uuid"},
        date: {"type": "int", "logicalType": "date"},
        datetime: {"type": "long", "logicalType": "timestamp-micros"},
    }
    if hint in simple:
        return simple[hint]
    if hint is SealedValue:
        return named.use(SEALED_SCHEMA)
    raise TypeError(f"{field_name}: no Avro mapping for {hint!r}")


def event_fields(event_type: EventType) -> list[tuple[str, Any]]:
    """The event's own fields and their Python types, in declaration order."""
    hints = typing.get_type_hints(event_type.event_class)
    return [(name, hint) for name, hint in hints.items() if name not in _BASE_ATTRIBUTES]


_NO_DEFAULT = object()


def _defaults(event_class: type) -> dict[str, Any]:
    """The event class's fields that have a default value, with it."""
    if not dataclasses.is_dataclass(event_class):
        return {}
    return {
        f.name: f.default
        for f in dataclasses.fields(event_class)
        if f.default is not dataclasses.MISSING
    }


def generate_schema(event_type: EventType) -> dict[str, Any]:
    """The Avro schema of an event type, derived from its class's typed fields."""
    named = _NamedTypes()
    fields = list(_ENVELOPE_FIELDS)
    for name, hint in event_fields(event_type):
        avro_type = _avro_type(hint, name, named)
        field: dict[str, Any] = {"name": name, "type": avro_type}
        default = _defaults(event_type.event_class).get(name, _NO_DEFAULT)
        if isinstance(default, bool | int | float | str):
            # A field added to a released event has a default in the class, so a reader of
            # the new schema reads the old data (and old events load) with it.
            field["default"] = default
        elif isinstance(avro_type, list):
            field["default"] = None
        fields.append(field)
    namespace, name = event_type.type_name.rsplit(".", 1)
    schema: dict[str, Any] = {
        "type": "record",
        "name": name,
        "namespace": namespace,
        "doc": f"{event_type.event_class.__qualname__}, {event_type.family} family.",
        "fields": fields,
    }
    return schema


def schema_path(type_name: str, directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{type_name}.avsc"


def released_versions(type_name: str, released_dir: Path = RELEASED_DIR) -> list[dict[str, Any]]:
    """The released schemas of an event type, oldest first."""
    folder = released_dir / type_name
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.avsc"), key=lambda p: int(p.stem))
    return [json.loads(p.read_text()) for p in files]


def generate(directory: Path = SCHEMA_DIR, released_dir: Path = RELEASED_DIR) -> list[str]:
    """Writes the schema of each event type whose file is missing or out of date.

    Refuses (SchemaReleasedError) to change a schema whose current form was released: a
    released schema changes only by a deliberate, compatible edit (a new field with a
    default), never by regeneration.
    """
    written = []
    for event_type in catalogue():
        path = schema_path(event_type.type_name, directory)
        generated = generate_schema(event_type)
        if path.exists():
            current = json.loads(path.read_text())
            if current == generated:
                continue
            if current in released_versions(event_type.type_name, released_dir):
                raise SchemaReleasedError(
                    f"{event_type.type_name} changed in the code, but its schema was released; "
                    "edit the .avsc by hand compatibly (new fields need defaults) or add a new "
                    "major version of the event (….v2)"
                )
        path.write_text(json.dumps(generated, indent=2, ensure_ascii=False) + "\n")
        written.append(event_type.type_name)
    return written


def release(directory: Path = SCHEMA_DIR, released_dir: Path = RELEASED_DIR) -> list[str]:
    """Adds each current schema that differs from its latest release to the history."""
    released = []
    for path in sorted(directory.glob("*.avsc")):
        type_name = path.stem
        current = json.loads(path.read_text())
        history = released_versions(type_name, released_dir)
        if history and history[-1] == current:
            continue
        folder = released_dir / type_name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{len(history) + 1}.avsc").write_text(path.read_text())
        released.append(type_name)
    return released


@dataclass(frozen=True)
class RegisteredSchema:
    type_name: str
    fingerprint: bytes
    schema: dict[str, Any]
    parsed: Any
    current: bool

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


class SchemaRegistry:
    """The schemas a writer uses (current) and a reader may meet (current and released)."""

    def __init__(self, directory: Path = SCHEMA_DIR, released_dir: Path = RELEASED_DIR) -> None:
        self._current: dict[str, RegisteredSchema] = {}
        self._by_fingerprint: dict[bytes, RegisteredSchema] = {}
        for event_type in catalogue():
            path = schema_path(event_type.type_name, directory)
            if not path.exists():
                raise FileNotFoundError(
                    f"no schema {path.name} in {directory}: run `digione schemas generate`"
                )
            self._add(event_type.type_name, json.loads(path.read_text()), current=True)
            for old in released_versions(event_type.type_name, released_dir):
                self._add(event_type.type_name, old, current=False)
        # The service views (streams/service_view.py), derived from the current schemas.
        from streams.service_view import (
            FORGET_SCHEMA,
            FORGET_TYPE,
            SERVICE_FAMILIES,
            service_type_name,
            service_view_schema,
        )

        for event_type in catalogue():
            if event_type.family in SERVICE_FAMILIES:
                view = service_view_schema(self._current[event_type.type_name].schema)
                self._add(service_type_name(event_type.type_name), view, current=True)
        self._add(FORGET_TYPE, FORGET_SCHEMA, current=True)

    def _add(self, type_name: str, schema: dict[str, Any], *, current: bool) -> None:
        parsed = fastavro.parse_schema(schema, _write_hint=False)
        key = fingerprint(parsed)
        registered = RegisteredSchema(type_name, key, schema, parsed, current)
        if current:
            self._current[type_name] = registered
        self._by_fingerprint.setdefault(key, registered)

    def current(self, type_name: str) -> RegisteredSchema:
        return self._current[type_name]

    def by_fingerprint(self, key: bytes) -> RegisteredSchema | None:
        return self._by_fingerprint.get(key)

    def resolve(self, key: bytes) -> Any:
        found = self._by_fingerprint.get(key)
        return None if found is None else found.parsed

    def all(self) -> list[RegisteredSchema]:
        return sorted(self._by_fingerprint.values(), key=lambda r: (r.type_name, not r.current))


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    return SchemaRegistry()


__all__ = ["SchemaRegistry", "default_registry", "fingerprint_hex", "generate", "release"]
