"""Signed checkpoints of a tenant's ledger: (position, head hash, time) under an Ed25519 key.

A checkpoint says "at this time the ledger's hash at this position was this", signed by the
tenant's ledger signing key. Copies kept outside the database (the `ledger.v1` topic, an
auditor's own archive) let a verifier see a ledger that was rewritten together with the
events: the recomputed chain no longer reaches the signed hash. The signing key is derived
from the tenant's key-encryption key (sealed like every other key, see domain/sealing.py);
its public half is published so anyone can check a checkpoint without the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

#: The domain of every signed message, so a checkpoint signature means nothing else.
_DOMAIN = b"digione/ledger-checkpoint/v1"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the ledger's hash at a position."""

    tenant: str
    position: int
    head_hash: str
    signed_at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.tenant, self.position, self.head_hash, self.signed_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "position": self.position,
            "headHash": self.head_hash,
            "signedAt": self.signed_at,
            "keyId": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            tenant=str(data["tenant"]),
            position=int(data["position"]),
            head_hash=str(data["headHash"]),
            signed_at=str(data["signedAt"]),
            key_id=str(data["keyId"]),
            signature=bytes.fromhex(str(data["signature"])),
        )


def signed_message(tenant: str, position: int, head_hash: str, signed_at: str) -> bytes:
    """The bytes a checkpoint's signature covers (one line per field after the domain)."""
    return b"\n".join(
        (_DOMAIN, *(str(v).encode() for v in (tenant, position, head_hash, signed_at)))
    )


def key_id(public_key: bytes) -> str:
    """A short name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class CheckpointSigner:
    """Signs a tenant's checkpoints with the Ed25519 key of a 32-byte seed."""

    def __init__(self, tenant: str, seed: bytes) -> None:
        self.tenant = tenant
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.public_key)

    def sign(self, position: int, head_hash: str, signed_at: str) -> Checkpoint:
        signature = self._key.sign(signed_message(self.tenant, position, head_hash, signed_at))
        return Checkpoint(self.tenant, position, head_hash, signed_at, self.key_id, signature)


def signature_holds(checkpoint: Checkpoint, public_key: bytes) -> bool:
    """Whether the checkpoint was signed by the key and is unchanged since."""
    if checkpoint.key_id != key_id(public_key):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            checkpoint.signature, checkpoint.message()
        )
    except (InvalidSignature, ValueError):
        return False
    return True
