"""The right-of-access export as a portable document (GDPR art. 15 and 20): stable
camelCase field names a family can keep and another system can read.

The names are the contract (README, "Right of access"): `formatVersion` says which; a
field is only ever added. Event data is named after the event's Avro schema fields in
camelCase (`assessed_at` → `assessedAt`), which change only compatibly (schemas/); the
personal data inside keeps its OneRoster names (`givenName`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMAT_VERSION", "RECORD_KINDS", "camel", "portable_export"]

FORMAT_VERSION = 1
#: The kinds of record an export holds, in the order the page lists them.
RECORD_KINDS = (
    "user",
    "demographics",
    "enrollment",
    "result",
    "attainment",
    "consent",
    "erasure",
)
#: Event fields that name who recorded or asked for a change, by preference.
_BY_FIELDS = ("assessor", "granted_by", "revoked_by", "requested_by", "made_by")


def camel(name: str) -> str:
    """`assessed_at` → `assessedAt` (names already in camelCase stay as they are)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def portable_export(document: dict[str, Any]) -> dict[str, Any]:
    """The portable form of a subject export (projections/reads/subject_export.py)."""
    records: list[dict[str, Any]] = []
    for kind in RECORD_KINDS:
        section = document.get(_section(kind))
        for aggregate in [section] if isinstance(section, dict) else section or []:
            records.append(_record(aggregate))
    return {
        "formatVersion": FORMAT_VERSION,
        "subject": document["subject"],
        "tenant": document["tenant"],
        "generatedAt": document["generatedAt"],
        "storePosition": document["storePosition"],
        "records": records,
        "disclosures": list(document["disclosures"]),
        "erasures": [_erasure(r) for r in records if r["kind"] == "erasure"],
    }


def _section(kind: str) -> str:
    return kind if kind in ("user", "demographics") else f"{kind}s"


def _record(aggregate: dict[str, Any]) -> dict[str, Any]:
    events = [
        {
            "type": e["type"],
            "occurredAt": e["occurredAt"],
            "position": e["position"],
            "recordedBy": _by(e["fields"]),
            "data": {camel(k): v for k, v in e["fields"].items()},
        }
        for e in aggregate["events"]
    ]
    return {
        "kind": aggregate["kind"],
        "recordId": aggregate["id"],
        "firstRecordedAt": events[0]["occurredAt"] if events else None,
        "lastChangedAt": events[-1]["occurredAt"] if events else None,
        "recordedBy": sorted({e["recordedBy"] for e in events if e["recordedBy"]}),
        "events": events,
    }


def _by(fields: dict[str, Any]) -> str | None:
    return next((str(fields[f]) for f in _BY_FIELDS if fields.get(f)), None)


def _erasure(record: dict[str, Any]) -> dict[str, Any]:
    """An erasure: when, on whose request, what went at once and what is kept until when."""
    first = record["events"][0]["data"] if record["events"] else {}
    shredded = [s for e in record["events"] for s in e["data"].get("shredded") or []]
    return {
        "erasedAt": first.get("erasedAt"),
        "requestedBy": first.get("requestedBy"),
        "basis": first.get("basis"),
        "shredded": sorted(set(shredded)),
        "kept": [{camel(k): v for k, v in kept.items()} for kept in first.get("kept") or []],
    }
