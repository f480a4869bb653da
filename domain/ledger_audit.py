"""The tenant's side of the audit: signed checkpoints of its ledger, and verifying both."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.ledger import PAGE_SIZE, LedgerReport
from domain.ledger_checkpoints import Checkpoint, CheckpointSigner
from domain.tenant_core import TenantCore


class LedgerAudit(TenantCore):
    """Checkpoints of the tenant's ledger (domain/ledger.py), signed with its ledger key."""

    def _signer(self, *, create: bool) -> CheckpointSigner | None:
        seed = self.sealer.ledger_signing_seed(create=create)
        return None if seed is None else CheckpointSigner(self.tenant, seed)

    def ledger_public_key(self) -> bytes | None:
        """The raw Ed25519 public key that signs the tenant's checkpoints; None before the
        tenant has a key-encryption key (no checkpoint signed, no personal data sealed: a
        read creates no key) and once it was offboarded (its key-encryption key destroyed)."""
        if self.tables.load_tenant_kek() is None:
            # The sealer makes a missing key-encryption key on first use: not on a read.
            return None
        signer = self._signer(create=False)
        return None if signer is None else signer.public_key

    def checkpoint(self) -> Checkpoint | None:
        """Signs the ledger's head and keeps the checkpoint; None when there is nothing new
        to sign (no event since the last checkpoint) or the tenant was offboarded."""
        position, digest = self.ledger.head()
        if position == 0 or position <= self.tables.last_checkpoint_position():
            return None
        if self.tables.tenant_kek_was_shredded():
            return None
        signer = self._signer(create=True)
        assert signer is not None
        signed = signer.sign(position, digest.hex(), self.clock().isoformat())
        self.tables.store_checkpoint(signed)
        return signed

    def checkpoints(self) -> list[Checkpoint]:
        return self.tables.checkpoints(self.tenant)

    def verify_ledger(
        self,
        *,
        copies: Sequence[Checkpoint] = (),
        page_size: int = PAGE_SIZE,
        progress: Callable[[int, int], None] | None = None,
    ) -> LedgerReport:
        """Recomputes the chain and checks every kept checkpoint against it and the key,
        and every copy kept elsewhere (`copies`, e.g. read from the ledger topic): a copy
        checks the chain even when the store's own checkpoint was deleted or altered."""
        checkpoints = [*self.checkpoints(), *(c for c in copies if c.tenant == self.tenant)]
        return self.ledger.verify(
            checkpoints=checkpoints,
            public_key=self.ledger_public_key(),
            page_size=page_size,
            progress=progress,
        )
