"""Sealed personal data of a read, opened for display; erased data reads as "erased".

Read models hold personal data only sealed (projections/sealed.py); a read opens it with
the tenant application's sealer. An erased subject's data reads as the marker text
"erased", never as an error (DESIGN.md invariant 5). An auditor's read (api/audit_as_of.py)
opens only the subjects granted to the auditor: the others read as "sealed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Protocol, final

from domain.sealing import ERASED, Erased, SealedValue, Sealer
from projections.sealed import retention_class, sealed_value, subject_id

__all__ = ["ERASED_TEXT", "SEALED_TEXT", "WITHHELD", "Unsealer", "Unsealing", "Withheld"]

#: What a reader sees in place of personal data whose key has been destroyed.
ERASED_TEXT = "erased"
#: What an auditor sees in place of personal data of a subject not granted to them.
SEALED_TEXT = "sealed"


@final
class Withheld:
    """The marker an auditor's read gets for personal data it may not open."""

    def __repr__(self) -> str:
        return "WITHHELD"


WITHHELD = Withheld()


class Unsealing(Protocol):
    """What opens sealed values: a tenant's Sealer, or an auditor's view of it."""

    def unseal(self, sealed: SealedValue) -> dict[str, Any] | Erased | Withheld: ...


class Unsealer:
    """Opens sealed records of one read, each subject's record once."""

    def __init__(self, sealer: Unsealing) -> None:
        self._sealer = sealer
        self._opened: dict[str, dict[str, Any] | Erased | Withheld] = {}

    def open(self, sealed: Mapping[str, Any] | None) -> dict[str, Any] | Erased | Withheld | None:
        """The plaintext mapping, ERASED when the key is gone (or the value was blanked),
        WITHHELD when an auditor may not open it, None when there is nothing sealed."""
        if sealed is None:
            return None
        if "ciphertext" not in sealed:
            return ERASED
        key = f"{sealed['subject']}/{sealed['retention']}/{sealed['nonce']}"
        if key not in self._opened:
            self._opened[key] = self._sealer.unseal(sealed_value(sealed))
        return self._opened[key]

    def prefetch(self, records: Iterable[Mapping[str, Any] | None]) -> None:
        """Reads the keys of these sealed records together (one query, not one per
        subject), when the sealer can: call it before opening many records."""
        if not isinstance(self._sealer, Sealer):
            return
        self._sealer.prefetch(
            (subject_id(str(r["subject"])), retention_class(r["retention"]))
            for r in records
            if r is not None and "ciphertext" in r
        )

    def name(self, personal: Mapping[str, Any] | None) -> str | None:
        """A user's name as people use it: preferred names first (OneRoster 1.2 User)."""
        opened = self.open(personal)
        if opened is None:
            return None
        if isinstance(opened, Erased):
            return ERASED_TEXT
        if isinstance(opened, Withheld):
            return SEALED_TEXT
        first = opened.get("preferredFirstName") or opened.get("givenName") or ""
        last = opened.get("preferredLastName") or opened.get("familyName") or ""
        return f"{first} {last}".strip() or None

    def text(self, sealed: Mapping[str, Any] | None, field: str) -> str | None:
        """One text field of a sealed record (a verbal assessment's `comment`)."""
        opened = self.open(sealed)
        if opened is None:
            return None
        if isinstance(opened, Erased):
            return ERASED_TEXT
        if isinstance(opened, Withheld):
            return SEALED_TEXT
        value = opened.get(field)
        return None if value is None else str(value)

    def birth_date(self, demographics: Mapping[str, Any] | None) -> date | None:
        """The birthDate of sealed demographics; None when unknown or erased."""
        opened = self.open(demographics)
        if not isinstance(opened, dict) or not opened.get("birthDate"):
            return None
        return date.fromisoformat(str(opened["birthDate"]))
