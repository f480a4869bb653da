"""Schemas are the contract: each one stays compatible with its released history."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import fastavro
import pytest

from streams.event_types import catalogue
from streams.schemas import (
    RELEASED_DIR,
    SCHEMA_DIR,
    SchemaReleasedError,
    generate,
    generate_schema,
    released_versions,
    schema_path,
)


def _sample(schema: Any, names: dict[str, Any]) -> Any:
    """A value of every field, so a round trip exercises the whole schema."""
    if isinstance(schema, str):
        if schema in names:
            return _sample(names[schema], names)
        return {
            "string": "x",
            "long": 7,
            "int": 7,
            "boolean": True,
            "double": 1.5,
            "bytes": b"\x00\x01",
            "null": None,
        }[schema]
    if isinstance(schema, list):
        return _sample(schema[1] if schema[0] == "null" else schema[0], names)
    kind = schema["type"]
    if kind == "record":
        names[f"{schema.get('namespace', '')}.{schema['name']}".lstrip(".")] = schema
        names[schema["name"]] = schema
        return {f["name"]: _sample(f["type"], names) for f in schema["fields"]}
    if kind == "enum":
        names[f"{schema.get('namespace', '')}.{schema['name']}".lstrip(".")] = schema
        return schema["symbols"][0]
    if kind == "array":
        return [_sample(schema["items"], names)]
    if schema.get("logicalType") == "uuid":
        return "6f1c2a4e-5d0b-5b8e-9a47-3c1d2e0f4b19"
    return _sample(kind, names)


def _round_trip(writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    writer_parsed = fastavro.parse_schema(writer, _write_hint=False)
    fastavro.schemaless_writer(buffer, writer_parsed, _sample(writer, {}))
    buffer.seek(0)
    reader_parsed = fastavro.parse_schema(reader, _write_hint=False)
    result = fastavro.schemaless_reader(buffer, writer_parsed, reader_parsed)
    assert isinstance(result, dict)
    return result


def _current(type_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_path(type_name).read_text())
    return loaded


TYPE_NAMES = [t.type_name for t in catalogue()]


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_every_event_type_has_a_committed_schema_matching_the_code(type_name: str) -> None:
    event_type = next(t for t in catalogue() if t.type_name == type_name)

    assert schema_path(type_name).exists(), "run `digione schemas generate`"
    assert _current(type_name) == generate_schema(event_type), (
        "the event class changed: regenerate, or edit the schema compatibly by hand"
    )


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_current_schema_reads_and_is_read_by_every_released_version(type_name: str) -> None:
    current = _current(type_name)
    history = released_versions(type_name)

    assert history, f"{type_name} has no released version: run `digione schemas release`"
    for released in history:
        _round_trip(writer=current, reader=released)  # old consumers read new messages
        _round_trip(writer=released, reader=current)  # new consumers read old messages


def test_a_field_added_without_a_default_breaks_compatibility() -> None:
    released = released_versions("fi.digione.assessment.result.recorded.v1")[-1]
    changed = json.loads(json.dumps(released))
    changed["fields"].append({"name": "weight", "type": "double"})  # new field, no default

    with pytest.raises(fastavro.read.SchemaResolutionError):
        _round_trip(writer=released, reader=changed)


def test_a_field_added_with_a_default_stays_compatible() -> None:
    released = released_versions("fi.digione.assessment.result.recorded.v1")[-1]
    changed = json.loads(json.dumps(released))
    changed["fields"].append({"name": "weight", "type": ["null", "double"], "default": None})

    assert _round_trip(writer=released, reader=changed)["weight"] is None
    assert "weight" not in _round_trip(writer=changed, reader=released)


def test_the_generator_refuses_to_overwrite_a_released_schema(tmp_path: Path) -> None:
    directory, released_dir = tmp_path / "schemas", tmp_path / "released"
    shutil.copytree(SCHEMA_DIR, directory, ignore=shutil.ignore_patterns("released", "*.py"))
    shutil.copytree(RELEASED_DIR, released_dir)
    path = directory / "fi.digione.roster.org.renamed.v1.avsc"
    released = json.loads(path.read_text())
    # Pretend the released schema differs from what the code now generates.
    released["fields"] = [f for f in released["fields"] if f["name"] != "name"]
    path.write_text(json.dumps(released))
    (released_dir / "fi.digione.roster.org.renamed.v1" / "2.avsc").write_text(json.dumps(released))

    with pytest.raises(SchemaReleasedError):
        generate(directory, released_dir)
    assert json.loads(path.read_text()) == released


def test_the_generator_writes_a_missing_schema(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"
    directory.mkdir()

    written = generate(directory, tmp_path / "released")

    assert sorted(written) == sorted(TYPE_NAMES)
