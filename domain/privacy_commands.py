"""Privacy commands: erasure by crypto-shredding (GDPR art. 17), retention, tenant shredding."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import retention
from domain.command_roles import require_data_protection_officer
from domain.commands import Actor, Outcome
from domain.privacy import Erasure, TenantOffboarding
from domain.roster import User
from domain.sealing import Erased, RetentionClass
from domain.tenant_core import TenantCore, require_text

ERASURES = "erasures"


class PrivacyCommands(TenantCore):
    """The erasures of one tenant's data subjects, their retention, and offboarding."""

    def erase(self, actor: Actor, *, subject: str, reason: str, basis: str | None) -> Outcome:
        """Shreds the subject's keys that may go now and schedules the kept ones.

        The event is saved before the keys are destroyed; `reconcile_erasures` (run when the
        store opens) finishes any shredding a crash interrupted. Erasing twice is harmless.
        """
        require_data_protection_officer(actor)
        require_text("reason", reason)
        self._require(User, "users", subject, "subject")
        subject_id = self._id("users", subject)
        erasure_id = self._id(ERASURES, subject)
        today, now = self._today(), self.clock()
        birth_date = self._birth_date(subject)
        shred_now: list[str] = []
        kept: list[dict[str, Any]] = []
        for retention_class in self.tables.subject_retention_classes(subject_id):
            until = retention.kept_until(retention_class, birth_date=birth_date, today=today)
            if retention.may_shred_now(retention_class) or (until is not None and until <= today):
                shred_now.append(retention_class.value)
            else:
                kept.append(
                    {
                        "retention": retention_class.value,
                        "until": until,
                        "ground": retention.KEEP_GROUNDS[retention_class],
                    }
                )
        outcome = self._register_or_revise(
            Erasure,
            erasure_id,
            register=lambda new_id: Erasure._create(
                Erasure.PersonalDataErased,
                id=new_id,
                subject=subject,
                subject_id=subject_id,
                basis=basis or "GDPR art. 17(1)",
                # The reason may name people: it is sealed under the erasure record's own key.
                reason=self.sealer.seal(
                    new_id, RetentionClass.PERMANENT_RECORD, {"reason": reason}
                ),
                requested_by=actor.subject,
                shredded=shred_now,
                kept=kept,
                erased_at=now,
            ),
            revise=lambda erasure: erasure.repeat(
                requested_by=actor.subject, shredded=shred_now, repeated_at=now
            ),
        )
        for shredded in shred_now:
            self._shred(subject_id, RetentionClass(shredded))
        if retention.USER_DETAILS.value in shred_now:
            self.tables.delete_blind_index(subject)
        return outcome

    def erasure(self, erasure_id: str) -> Erasure:
        return self._get_by_uuid(Erasure, erasure_id, kind="erasure")

    def erasure_reason(self, erasure: Erasure) -> str | None:
        opened = self.sealer.unseal(erasure.reason)
        return None if isinstance(opened, Erased) else str(opened["reason"])

    def erasure_ids(self) -> list[UUID]:
        """Every erasure of the tenant (erasures are rare: a topic-filtered read of the log)."""
        topic = f"{Erasure.PersonalDataErased.__module__}:{Erasure.PersonalDataErased.__qualname__}"
        ids: list[UUID] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            # The recorder gives ids as it stores them; this application's are UUIDs.
            ids += [UUID(str(n.originator_id)) for n in page]
            if len(page) < 1000:
                return ids
            start = page[-1].id + 1

    def run_retention(self) -> list[tuple[str, str]]:
        """Shreds kept retention classes whose retention period has ended; each is an event."""
        done = []
        for erasure_id in self.erasure_ids():
            erasure = self._find_by_id(Erasure, erasure_id)
            if erasure is None:
                continue
            due = erasure.due(self._today())
            for retention_class in due:
                erasure.shred_retained(retention=retention_class, shredded_at=self.clock())
            if due:
                self._save(erasure)
                for retention_class in due:
                    self._shred(erasure.subject_id, RetentionClass(retention_class))
                    done.append((erasure.subject, retention_class))
        return done

    def shred_tenant(self, *, requested_by: str) -> Outcome:
        """Offboarding: destroys the tenant's key-encryption key (recorded first, as an event)."""
        offboarding_id = self._id("tenant", self.tenant)
        # Offboarding twice records nothing new but destroys the key again.
        outcome = self._register_or_revise(
            TenantOffboarding,
            offboarding_id,
            register=lambda new_id: TenantOffboarding._create(
                TenantOffboarding.KeyEncryptionKeyShredded,
                id=new_id,
                tenant=self.tenant,
                requested_by=requested_by,
                shredded_at=self.clock(),
            ),
        )
        self.tables.shred_tenant_kek()
        self.sealer.forget_all_keys()
        return outcome

    def reconcile_erasures(self) -> int:
        """Makes the key store agree with the erasure events: an interrupted shredding is
        finished and a key resurrected by a restored backup is destroyed again."""
        if self._find_by_id(TenantOffboarding, self._id("tenant", self.tenant)) is not None:
            self.tables.shred_tenant_kek()
            self.sealer.forget_all_keys()
        for erasure_id in self.erasure_ids():
            erasure = self._find_by_id(Erasure, erasure_id)
            if erasure is not None:
                for retention_class in erasure.shredded:
                    self._shred(erasure.subject_id, RetentionClass(retention_class))
                if retention.USER_DETAILS.value in erasure.shredded:
                    self.tables.delete_blind_index(erasure.subject)
        return self.tables.purge_shredded_keys()

    def _shred(self, subject_id: UUID, retention_class: RetentionClass) -> None:
        self.tables.shred_subject_key(subject_id, retention_class)
        self.sealer.forget_cached_key(subject_id, retention_class)
