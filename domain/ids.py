"""Deterministic aggregate ids: uuid5 of (tenant, collection, sourcedId)."""

from __future__ import annotations

import re
from functools import lru_cache
from uuid import UUID, uuid5

# A fixed namespace of this project, so the same source record always maps to the same id.
DIGIONE_NAMESPACE = UUID("6f1c2a4e-5d0b-5b8e-9a47-3c1d2e0f4b19")

SOURCED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
TENANT_ID = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


@lru_cache(maxsize=1 << 18)
def aggregate_id(tenant: str, collection: str, sourced_id: str) -> UUID:
    """The id of the aggregate holding `sourced_id` of `collection` in `tenant`.

    Importing the same source record twice can never create two aggregates. Cached: a
    bulk import asks for the same ids many times (a record, then each row referring to it).
    """
    return uuid5(DIGIONE_NAMESPACE, f"{tenant}/{collection}/{sourced_id}")


def is_valid_sourced_id(value: str) -> bool:
    """True when `value` is usable as a sourcedId (OneRoster: a string, unique per type)."""
    return bool(SOURCED_ID.match(value))


def is_valid_tenant_id(value: str) -> bool:
    """True when `value` is a well-formed tenant (municipality) id such as `vantaa`."""
    return bool(TENANT_ID.match(value))
