"""Keyed blind indexes of sealed personal fields: equality search without plaintext.

A OneRoster client may look a user up by e-mail or name (`filter=email='…'`), but those
fields are sealed. The command side, which holds the plaintext when it seals a user's
details, also keeps for each indexed field an HMAC-SHA256 of the normalised value under a
key derived from the tenant's key-encryption key; a read computes the same HMAC of the
value asked for and finds the users whose digest matches.

The digests are kept beside the tenant's keys (domain/tenant_tables.py), never in an event:
the log is immutable, and a digest of a name is as good as the name to whoever holds the
key and guesses. An erasure deletes the subject's digests with their keys; offboarding a
tenant destroys the key they were made with.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["INDEXED_FIELDS", "digest", "digests", "normalise"]

#: The sealed user fields that equality filters can reach through the index.
INDEXED_FIELDS = frozenset(
    {
        "givenName",
        "familyName",
        "middleName",
        "preferredFirstName",
        "preferredMiddleName",
        "preferredLastName",
        "username",
        "identifier",
        "userMasterIdentifier",
        "email",
        "sms",
        "phone",
    }
)


def normalise(value: str) -> str:
    """The form a value is indexed and searched in: NFC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFC", value).casefold().split())


def digest(key: bytes, field: str, value: str) -> str:
    """The blind index of one field's value under the tenant's index key."""
    message = f"{field}\x00{normalise(value)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def digests(key: bytes, personal: Mapping[str, Any]) -> dict[str, str]:
    """The blind index of each indexed field a user's personal details hold."""
    return {
        field: digest(key, field, str(value))
        for field, value in personal.items()
        if field in INDEXED_FIELDS and isinstance(value, str) and value.strip()
    }
