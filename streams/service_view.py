"""What a service receives on its topic: the service view of each event, and forget notices.

A service's topic `{prefix}.{tenant}.service.{serviceId}.v1` carries Avro single-object
encoded messages with the family topics' headers (`event-type`, `position`, `tenant`,
`occurred-at`, `schema-fingerprint`). The service view of an event type
(`fi.digione.service.<family>.<aggregate>.<event>.v1`) is its schema without any sealed
field, plus `data_subject` (the person it is about, by sourcedId) and `personal_data`: the personal
fields the agreement lets the service see, each by name (`personal.givenName`, `comment.text`) with its
value as JSON text. A field it may not see is absent from the map, never blanked.

Unless the agreement says `delivery: clear`, that map is not sent in clear: it goes as
`sealed_personal_data`, AES-256-GCM under a key of that service and subject
(domain.agreement_commands.service_view_key), which the service fetches from
`GET /api/v1/services/me/keys?subject=…`. An erasure of the subject or the end of the
agreement destroys the key, so the service's copy (in its topic, its backups, anywhere)
can no longer be opened. The plaintext is the map as JSON; the associated data is the
`key_id` (`tenant/service/subject`).

A `ForgetSubject` notice (`fi.digione.service.forget_subject.v1`) tells the service to
delete what it holds of a subject: the categories, the reason and the store position.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.event_types import NAMESPACE

__all__ = [
    "FORGET_SCHEMA",
    "FORGET_TYPE",
    "SERVICE_FAMILIES",
    "SERVICE_NAMESPACE",
    "open_personal_data",
    "seal_personal_data",
    "service_key_id",
    "service_topic",
    "service_type_name",
    "service_view_schema",
]

SERVICE_NAMESPACE = f"{NAMESPACE}.service"
#: The families whose events a service may receive (domain.agreements.EVENT_FAMILIES).
SERVICE_FAMILIES = ("roster", "assessment", "attainment")
FORGET_TYPE = f"{SERVICE_NAMESPACE}.forget_subject.v1"
_SEALED_NAME = f"{NAMESPACE}.Sealed"

FORGET_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "v1",
    "namespace": f"{SERVICE_NAMESPACE}.forget_subject",
    "doc": "ForgetSubject: delete what you hold of this subject in these categories.",
    "fields": [
        {"name": "subject", "type": "string", "doc": "The person, by sourcedId."},
        {
            "name": "categories",
            "type": {"type": "array", "items": "string"},
            "doc": "The data categories to delete ('all' for everything).",
        },
        {
            "name": "reason",
            "type": "string",
            "doc": "consent revoked, consent expired, agreement ended, agreement narrowed, "
            "or erasure.",
        },
        {"name": "position", "type": "long", "doc": "The store position of the cause."},
        {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    ],
}


_SERVICE_SEALED_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "ServiceCiphertext",
    "namespace": SERVICE_NAMESPACE,
    "doc": "The personal fields as a JSON object, AES-256-GCM under the key named key_id "
    "(GET /api/v1/services/me/keys?subject=…); the associated data is key_id.",
    "fields": [
        {"name": "key_id", "type": "string"},
        {"name": "nonce", "type": "bytes"},
        {"name": "ciphertext", "type": "bytes", "doc": "Ciphertext with the 16-byte tag."},
    ],
}


def service_key_id(tenant: str, service: str, subject: str) -> str:
    return f"{tenant}/{service}/{subject}"


def seal_personal_data(key: bytes, key_id: str, personal: dict[str, str]) -> dict[str, Any]:
    """The `sealed_personal_data` record of a service view: `personal` under `key`."""
    nonce = os.urandom(12)
    plaintext = json.dumps(personal, separators=(",", ":"), sort_keys=True).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, key_id.encode())
    return {"key_id": key_id, "nonce": nonce, "ciphertext": ciphertext}


def open_personal_data(key: bytes, sealed: dict[str, Any]) -> dict[str, str]:
    """The personal fields of a `sealed_personal_data` record (InvalidTag: wrong key)."""
    plaintext = AESGCM(key).decrypt(
        bytes(sealed["nonce"]), bytes(sealed["ciphertext"]), str(sealed["key_id"]).encode()
    )
    opened: dict[str, str] = json.loads(plaintext)
    return opened


def service_topic(prefix: str, tenant: str, service: str) -> str:
    return f"{prefix}.{tenant}.service.{service}.v1"


def service_type_name(type_name: str) -> str:
    """`fi.digione.assessment.result.recorded.v1` → `fi.digione.service.assessment.…`."""
    return f"{SERVICE_NAMESPACE}.{type_name.removeprefix(NAMESPACE + '.')}"


def _mentions_sealed(avro_type: Any) -> bool:
    if avro_type in ("Sealed", _SEALED_NAME):
        return True
    if isinstance(avro_type, list):
        return any(_mentions_sealed(t) for t in avro_type)
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "record" and avro_type.get("name") == "Sealed":
            return True
        return any(_mentions_sealed(avro_type.get(k)) for k in ("items", "values"))
    return False


def service_view_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The service view of an event schema: no sealed field; `data_subject`, `personal_data`."""
    view = copy.deepcopy(schema)
    view["namespace"] = service_type_name(schema["namespace"] + "." + schema["name"]).rsplit(
        ".", 1
    )[0]
    view["doc"] = f"The service view of {schema.get('doc', schema['name'])}"
    fields = [f for f in view["fields"] if not _mentions_sealed(f["type"])]
    fields.append(
        {
            "name": "data_subject",
            "type": ["null", "string"],
            "default": None,
            "doc": "The person the event is about, by sourcedId (none for org data).",
        }
    )
    fields.append(
        {
            "name": "personal_data",
            "type": {"type": "map", "values": "string"},
            "default": {},
            "doc": "The personal fields the agreement allows, each as JSON text "
            "(with clear delivery; empty when they are sealed).",
        }
    )
    fields.append(
        {
            "name": "sealed_personal_data",
            "type": ["null", copy.deepcopy(_SERVICE_SEALED_SCHEMA)],
            "default": None,
            "doc": "The personal fields, sealed for this service (none with clear delivery "
            "or when there are none).",
        }
    )
    view["fields"] = fields
    return view
