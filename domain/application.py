"""The tenant application: validates commands, decides, seals personal data, saves events.

One instance serves one tenant (municipality) and owns that tenant's event store, whose
tables live in the tenant's own SQLite file or PostgreSQL schema. Its commands are written
per area (`roster_commands`, `gradebook_commands`, `consent_commands`, `privacy_commands`)
on the shared core in `tenant_core`; this class puts them together.
"""

from __future__ import annotations

from domain.agreement_commands import AgreementCommands
from domain.audit_grants import AuditGrantCommands
from domain.consent_commands import ConsentCommands
from domain.gradebook_commands import GradebookCommands
from domain.ledger_audit import LedgerAudit
from domain.privacy_commands import PrivacyCommands
from domain.roster_commands import RosterCommands


class TenantApplication(
    RosterCommands,
    GradebookCommands,
    ConsentCommands,
    PrivacyCommands,
    AgreementCommands,
    LedgerAudit,
    AuditGrantCommands,
):
    """The command side of one tenant."""

    # eventsourcing names an application after its class unless told; the name prefixes
    # the application's environment settings, so it stays what it has always been.
    name = "DigiOneTenant"
