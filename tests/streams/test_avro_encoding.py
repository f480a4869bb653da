"""Unit tests of Avro single-object encoding and schema fingerprints."""

from __future__ import annotations

import struct
from typing import Any

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form
from fastavro.types import Schema

from streams.avro_encoding import (
    MAGIC,
    MalformedAvroBodyError,
    NotSingleObjectEncodedError,
    UnknownSchemaFingerprintError,
    decode,
    encode,
    fingerprint,
    fingerprint_hex,
    resolver_for,
)

# The reference algorithm of the Avro specification, "Schema Fingerprints": the 64-bit
# Rabin fingerprint CRC-64-AVRO, written out here independently of fastavro.
_EMPTY64 = 0xC15D213AA4D7A795


def _rabin_table() -> list[int]:
    table = []
    for byte in range(256):
        fp = byte
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_RABIN_TABLE = _rabin_table()


def reference_fingerprint(canonical_form: str) -> bytes:
    fp = _EMPTY64
    for byte in canonical_form.encode("utf-8"):
        fp = (fp >> 8) ^ _RABIN_TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def assessment_schema_v1() -> Schema:
    return fastavro.parse_schema(
        {
            "type": "record",
            "name": "AssessmentRecorded",
            "namespace": "fi.digione.test",
            "doc": "A test event; doc strings are not part of the canonical form.",
            "fields": [
                {"name": "student", "type": "string"},
                {"name": "class_id", "type": "string"},
                {"name": "grade", "type": ["null", "string"], "default": None},
                {"name": "comment", "type": ["null", "bytes"], "default": None},
                {
                    "name": "assessed_at",
                    "type": {"type": "long", "logicalType": "timestamp-micros"},
                },
            ],
        }
    )


def assessment_schema_v2() -> Schema:
    return fastavro.parse_schema(
        {
            "type": "record",
            "name": "AssessmentRecorded",
            "namespace": "fi.digione.test",
            "fields": [
                {"name": "student", "type": "string"},
                {"name": "class_id", "type": "string"},
                {"name": "grade", "type": ["null", "string"], "default": None},
                {"name": "comment", "type": ["null", "bytes"], "default": None},
                {
                    "name": "assessed_at",
                    "type": {"type": "long", "logicalType": "timestamp-micros"},
                },
                {"name": "objectives", "type": {"type": "array", "items": "string"}, "default": []},
            ],
        }
    )


def an_assessment(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "student": "stu-1",
        "class_id": "cls-7a",
        "grade": "9",
        "comment": b"sealed-ciphertext",
        "assessed_at": 1_748_423_700_000_000,
    }
    record.update(overrides)
    return record


# Published in the Avro project's share/test/data/schema-tests.txt as signed 64-bit longs.
@pytest.mark.parametrize(
    ("schema", "published_fingerprint"),
    [
        ("null", 7195948357588979594),
        ("boolean", -6970731678124411036),
        ("int", 8247732601305521295),
        ("string", -8142146995180207161),
        (
            {"type": "record", "name": "foo", "fields": [{"name": "f1", "type": "boolean"}]},
            7843277075252814651,
        ),
    ],
)
def test_fingerprint_matches_the_avro_projects_published_test_vectors(
    schema: Schema, published_fingerprint: int
) -> None:
    parsed = fastavro.parse_schema(schema)

    result = fingerprint(parsed)

    assert result == struct.pack("<q", published_fingerprint)


def test_fingerprint_matches_the_specifications_reference_algorithm() -> None:
    schema = assessment_schema_v2()

    result = fingerprint(schema)

    assert result == reference_fingerprint(to_parsing_canonical_form(schema))


def test_fingerprint_ignores_what_the_parsing_canonical_form_drops() -> None:
    documented = assessment_schema_v1()
    # The same schema with its full name spelled out and without docs or defaults.
    bare = fastavro.parse_schema(
        {
            "name": "fi.digione.test.AssessmentRecorded",
            "type": "record",
            "fields": [
                {"name": "student", "type": "string"},
                {"name": "class_id", "type": "string"},
                {"name": "grade", "type": ["null", "string"]},
                {"name": "comment", "type": ["null", "bytes"]},
                {"name": "assessed_at", "type": "long"},
            ],
        }
    )

    assert fingerprint(documented) == fingerprint(bare)


def test_schemas_that_differ_have_different_fingerprints() -> None:
    assert fingerprint(assessment_schema_v1()) != fingerprint(assessment_schema_v2())


def test_fingerprint_hex_spells_the_wire_bytes() -> None:
    schema = assessment_schema_v1()

    assert fingerprint_hex(schema) == fingerprint(schema).hex()
    assert len(fingerprint_hex(schema)) == 16


def test_an_encoded_value_opens_with_the_marker_and_the_writer_fingerprint() -> None:
    schema = assessment_schema_v1()

    value = encode(schema, an_assessment())

    assert value[:2] == MAGIC == b"\xc3\x01"
    assert value[2:10] == fingerprint(schema)


def test_a_record_survives_encoding_and_decoding() -> None:
    schema = assessment_schema_v1()
    record = an_assessment()

    decoded = decode(encode(schema, record), resolver_for([schema]))

    assert {**decoded, "assessed_at": record["assessed_at"]} == record
    assert decoded["assessed_at"].year == 2025


def test_a_record_written_with_v1_reads_with_a_v2_reader_that_adds_a_defaulted_field() -> None:
    writer, reader = assessment_schema_v1(), assessment_schema_v2()
    value = encode(writer, an_assessment())

    decoded = decode(value, resolver_for([writer, reader]), reader_schema=reader)

    assert decoded["objectives"] == []
    assert decoded["student"] == "stu-1"


def test_a_value_without_the_marker_is_refused() -> None:
    value = b"\x00\x01" + encode(assessment_schema_v1(), an_assessment())[2:]

    with pytest.raises(NotSingleObjectEncodedError, match="c301"):
        decode(value, resolver_for([assessment_schema_v1()]))


def test_a_value_shorter_than_the_header_is_refused() -> None:
    with pytest.raises(NotSingleObjectEncodedError, match="3 bytes"):
        decode(b"\xc3\x01\x00", resolver_for([]))


def test_a_value_written_with_an_unknown_schema_is_refused_naming_its_fingerprint() -> None:
    writer = assessment_schema_v1()
    value = encode(writer, an_assessment())

    with pytest.raises(UnknownSchemaFingerprintError, match=fingerprint_hex(writer)) as raised:
        decode(value, resolver_for([assessment_schema_v2()]))

    assert raised.value.fingerprint == fingerprint(writer)


def test_a_resolver_that_raises_key_error_counts_as_not_knowing_the_schema() -> None:
    value = encode(assessment_schema_v1(), an_assessment())
    known: dict[bytes, Schema] = {}

    with pytest.raises(UnknownSchemaFingerprintError):
        decode(value, known.__getitem__)


def test_a_truncated_body_is_reported_as_malformed() -> None:
    schema = assessment_schema_v1()
    value = encode(schema, an_assessment())

    with pytest.raises(MalformedAvroBodyError, match="truncated or corrupt"):
        decode(value[:-4], resolver_for([schema]))


def test_bytes_left_over_after_the_body_are_reported_as_malformed() -> None:
    schema = assessment_schema_v1()
    value = encode(schema, an_assessment())

    with pytest.raises(MalformedAvroBodyError, match="remain"):
        decode(value + b"\x00\x00", resolver_for([schema]))


def test_decoding_errors_never_quote_the_value() -> None:
    schema = assessment_schema_v1()
    value = encode(schema, an_assessment(student="Aino Virtanen 010203A123B"))

    with pytest.raises(MalformedAvroBodyError) as raised:
        decode(value[:-4], resolver_for([schema]))

    assert "Aino" not in str(raised.value)
    assert raised.value.__cause__ is None
