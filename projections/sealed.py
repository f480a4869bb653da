"""Sealed personal fields as read models keep them: JSON with base64 nonce and ciphertext.

Read models never decrypt (DESIGN.md invariant 4): the Avro `Sealed` record of an event is
stored as it came, and the API unseals it at read time with the subject's key, so erasing
the key erases the read model's copy as well.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from uuid import UUID

from domain.sealing import RetentionClass, SealedValue

__all__ = ["retention_class", "sealed_record", "sealed_value", "subject_id"]


def sealed_record(avro: Mapping[str, Any]) -> dict[str, str]:
    """The JSON form of a decoded Avro `Sealed` record (subject, retention, nonce, ciphertext)."""
    return {
        "subject": str(avro["subject"]),
        "retention": str(avro["retention"]),
        "nonce": base64.b64encode(bytes(avro["nonce"])).decode("ascii"),
        "ciphertext": base64.b64encode(bytes(avro["ciphertext"])).decode("ascii"),
    }


@lru_cache(maxsize=1 << 16)
def subject_id(text: str) -> UUID:
    """A stored subject id as the sealer names it (a page of records names the same
    subjects again and again: each parsed once)."""
    return UUID(text)


@lru_cache(maxsize=8)
def retention_class(text: str) -> RetentionClass:
    """A stored record's retention class (`RetentionClass(text)`, remembered: an enum's
    look-up by value costs a microsecond, and a page reads it twice a record)."""
    return RetentionClass(text)


def sealed_value(record: Mapping[str, Any]) -> SealedValue:
    """The SealedValue a stored record holds, for `Sealer.unseal`."""
    return SealedValue(
        subject=subject_id(str(record["subject"])),
        retention=retention_class(record["retention"]),
        nonce=binascii.a2b_base64(record["nonce"]),
        ciphertext=binascii.a2b_base64(record["ciphertext"]),
    )
