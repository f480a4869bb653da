"""JSON transcodings for the value types that events carry (dates and sealed values)."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Transcoding

from domain.sealing import RetentionClass, SealedValue


class DateAsISO(Transcoding):
    """A calendar date as `YYYY-MM-DD`."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class SealedValueAsDict(Transcoding):
    """A sealed value: key reference in clear, nonce and ciphertext in base64."""

    type = SealedValue
    name = "sealed"

    def encode(self, obj: SealedValue) -> dict[str, Any]:
        return {
            "subject": obj.subject.hex,
            "retention": obj.retention.value,
            "nonce": base64.b64encode(obj.nonce).decode(),
            "ciphertext": base64.b64encode(obj.ciphertext).decode(),
        }

    def decode(self, data: dict[str, Any]) -> SealedValue:
        return SealedValue(
            subject=UUID(data["subject"]),
            retention=RetentionClass(data["retention"]),
            nonce=base64.b64decode(data["nonce"]),
            ciphertext=base64.b64decode(data["ciphertext"]),
        )
