"""How projections take part in an erasure: blank what they derived, then confirm.

Read models hold personal data only sealed (projections/sealed.py), so after the keys are
destroyed their copies are unreadable anyway; still each projection blanks the sealed
values of the retention classes shredded, so not even ciphertext of an erased subject
stays in a read model, and records its confirmation in the same transaction. The erasure
receipt shows when every projection has confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from streams.codec import EventEnvelope
from streams.event_types import MAJOR_VERSION, NAMESPACE

ERASED = f"{NAMESPACE}.privacy.erasure.personal_data_erased.{MAJOR_VERSION}"
REPEATED = f"{NAMESPACE}.privacy.erasure.erasure_repeated.{MAJOR_VERSION}"
RETAINED_SHREDDED = f"{NAMESPACE}.privacy.erasure.retained_data_shredded.{MAJOR_VERSION}"
#: The events after which a projection blanks sealed values of a subject.
SHREDDING_EVENTS = (ERASED, REPEATED, RETAINED_SHREDDED)

#: What a blanked sealed value looks like in a read model.
BLANK_MARKER = "erased"


def confirmations_table(metadata: sa.MetaData, *, prefix: str) -> sa.Table:
    """A projection's record of the erasures it has carried out."""
    return sa.Table(
        f"{prefix}_erasure_confirmations",
        metadata,
        sa.Column("tenant", sa.String(32), primary_key=True),
        sa.Column("erasure_id", sa.String(36), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
    )


def shredded_classes(e: EventEnvelope) -> set[str]:
    """The retention classes an erasure event shredded."""
    if e.event_type == RETAINED_SHREDDED:
        return {str(e.payload["retention"])}
    return {str(r) for r in e.payload.get("shredded") or []}


def subject_of(c: Connection, table: sa.Table, e: EventEnvelope) -> str:
    """The subject's sourcedId; later erasure events carry only the erasure's id."""
    if "subject" in e.payload:
        return str(e.payload["subject"])
    row = c.execute(
        sa.select(table.c.subject).where(
            table.c.tenant == e.tenant, table.c.erasure_id == str(e.aggregate_id)
        )
    ).first()
    return "" if row is None else str(row[0])


def confirm(c: Connection, table: sa.Table, e: EventEnvelope, subject: str) -> None:
    """Records that the projection carried out this erasure event (the latest one wins)."""
    c.execute(
        table.delete().where(table.c.tenant == e.tenant, table.c.erasure_id == str(e.aggregate_id))
    )
    c.execute(
        table.insert().values(
            tenant=e.tenant,
            erasure_id=str(e.aggregate_id),
            subject=subject,
            confirmed_at=datetime.now(e.occurred_at.tzinfo),
        )
    )


def blank(sealed: Any, shredded: Iterable[str]) -> Any:
    """The sealed JSON value blanked when its retention class was shredded, else unchanged."""
    if isinstance(sealed, dict) and sealed.get("retention") in set(shredded):
        return {"retention": sealed["retention"], BLANK_MARKER: True}
    return sealed


def is_blank(sealed: Any) -> bool:
    return isinstance(sealed, dict) and bool(sealed.get(BLANK_MARKER))
