"""How a consent-based client sees a person's records: only through the families' consents.

A client whose agreement's basis is `consent` sees a student's records (the user, their
enrollments and demographics, their results) only while a consent naming its service (the
client's NAME) for its agreement's purpose covers the data's category (`roster` for the roster records, `assessment`
for results), and only the personal fields of categories both its agreement and the
consent name. When the consent ends (revoked or expired), the student's records stay
visible to it as `tobedeleted`, their `dateLastModified` moved to when the consent ended,
so the client's delta sync (`filter=dateLastModified>'…'`) learns to delete its copy.
Someone no consent ever named for it does not exist for it: fail closed.

The status and dateLastModified a client sees are SQL expressions, so its filter and sort
reach them as they are answered (`status='tobedeleted'`, `dateLastModified>'…'`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from projections.reads.one_of import one_of

__all__ = ["TOBEDELETED", "ConsentView", "consent_view", "current_consents"]

TOBEDELETED = "tobedeleted"


@dataclass(frozen=True)
class ConsentView:
    """A record as a consent-based client sees it: whether it may see it at all, and the
    status and dateLastModified it reads."""

    visible: ColumnElement[bool]
    status: ColumnElement[Any]
    date_last_modified: ColumnElement[Any]


def consent_view(
    consents: sa.Table,
    *,
    tenant: str,
    service: str,
    purpose: str | None,
    subject: ColumnElement[Any],
    category: str,
    status: ColumnElement[Any],
    date_last_modified: ColumnElement[Any],
) -> ConsentView:
    """The view of records whose data subject is `subject`, for the client `service`."""
    k = consents.alias("consent_of_subject")
    naming = (
        k.c.tenant == tenant,
        k.c.recipient == service,
        k.c.student == subject,
        k.c.category == category,
        # A consent-based agreement always names its purpose (none: no consent counts).
        k.c.purpose == (purpose or ""),
    )
    in_force = sa.exists().where(*naming, k.c.ended_at.is_(None))
    # Any grant or end of a consent changes what the client sees of the record.
    moved = (
        sa.select(sa.func.max(sa.func.coalesce(k.c.ended_at, k.c.granted_at)))
        .where(*naming)
        .scalar_subquery()
    )
    modified = sa.case((moved > date_last_modified, moved), else_=date_last_modified)
    return ConsentView(
        visible=sa.exists().where(*naming),
        status=sa.case((in_force, status), else_=sa.literal(TOBEDELETED)),
        date_last_modified=sa.type_coerce(modified, sa.DateTime(timezone=True)),
    )


def current_consents(
    c: Connection,
    consents: sa.Table,
    *,
    tenant: str,
    service: str,
    purpose: str | None,
    students: Iterable[str],
) -> dict[str, dict[str, str]]:
    """Each student's consents in force naming `service` for `purpose`: student → category
    → consent id (the earliest granted, when several cover a category)."""
    k = consents
    wanted = sorted(set(students))
    found: dict[str, dict[str, str]] = {}
    if not wanted:
        return found
    rows = c.execute(
        sa.select(k.c.student, k.c.category, k.c.consent_id, k.c.granted_at)
        .where(
            k.c.tenant == tenant,
            k.c.recipient == service,
            k.c.purpose == (purpose or ""),
            one_of(k.c.student, wanted),
            k.c.ended_at.is_(None),
        )
        .order_by(k.c.granted_at.desc(), k.c.consent_id.desc())
    )
    for student, category, consent_id, _granted in rows:
        found.setdefault(str(student), {})[str(category)] = str(consent_id)
    return found
