"""The disclosure record: who received which category of a person's data, when, on what basis.

GDPR art. 15(1)(c) gives a data subject the right to know the recipients to whom their
personal data have been disclosed; art. 5(2) makes the controller able to show it. Every
API read that hands out personal data records here who received it.

Reads are hot, so a request writes one multi-row upsert: one row per (tenant, subject,
recipient, category, basis, day), holding the first and last time of that day and how many
requests disclosed it. The record names people only by sourcedId and holds no personal data
itself, so it needs no sealing; it is kept in the main database beside the read models.

How to record (from a route, after the data is read and before it is answered):

    record_disclosures(
        container.engine, tenant=actor.tenant, subjects=[student_id, ...],
        recipient=actor.subject, recipient_role=actor.role,
        categories=["assessment"], basis=STATUTORY_TASK,  # or the consent's id
        at=container.clock(),
    )

`categories` come from domain.consent.DATA_CATEGORIES (identity, contact, roster,
assessment, attainment, demographics, photos) or ALL for a whole export; `basis` is
STATUTORY_TASK for what the school discloses under its legal obligation or public task
(GDPR art. 6(1)(c)/(e)), RIGHT_OF_ACCESS for a person's own export, or the id of the
consent that allowed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from domain.consent import DATA_CATEGORIES

__all__ = [
    "ALL",
    "RIGHT_OF_ACCESS",
    "STATUTORY_TASK",
    "Disclosure",
    "UnknownDisclosureCategoryError",
    "create_table",
    "disclosures_of",
    "record_disclosures",
    "user_detail_categories",
]

#: The basis of what the school discloses under its legal duty or public task.
STATUTORY_TASK = "statutory task"
#: The basis of a person's own export, or their guardian's (GDPR art. 15).
RIGHT_OF_ACCESS = "right of access (GDPR art. 15)"
#: The category of a whole export: every category at once.
ALL = "all"
CATEGORIES = DATA_CATEGORIES | {ALL}

#: The user fields that are contact details; the other personal fields are identity.
CONTACT_FIELDS = frozenset({"email", "sms", "phone"})

metadata = sa.MetaData()
disclosures = sa.Table(
    "disclosures",
    metadata,
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("subject", sa.String(128), primary_key=True),
    sa.Column("recipient", sa.String(128), primary_key=True),
    sa.Column("category", sa.String(32), primary_key=True),
    # Part of the key, so one recipient's disclosures under two bases on a day stay two.
    sa.Column("basis", sa.String(128), primary_key=True),
    #: The UTC day; the times below are exact.
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("recipient_role", sa.String(16), nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    #: How many requests disclosed it that day.
    sa.Column("count", sa.Integer, nullable=False),
)


class UnknownDisclosureCategoryError(ValueError):
    """Raised when a disclosure is recorded under a category that is not one of CATEGORIES."""


@dataclass(frozen=True)
class Disclosure:
    """One recipient's receipt of one category of a subject's data on one day."""

    recipient: str
    recipient_role: str
    category: str
    basis: str
    day: date
    first_at: datetime
    last_at: datetime
    count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "recipientRole": self.recipient_role,
            "category": self.category,
            "basis": self.basis,
            "day": self.day.isoformat(),
            "firstAt": self.first_at.isoformat(),
            "lastAt": self.last_at.isoformat(),
            "count": self.count,
        }


def create_table(engine: Engine) -> None:
    """Creates the disclosure table when missing (the composition root calls it once)."""
    metadata.create_all(engine)


def record_disclosures(
    engine: Engine,
    *,
    tenant: str,
    subjects: Iterable[str],
    recipient: str,
    recipient_role: str,
    categories: Iterable[str],
    basis: str,
    at: datetime | None = None,
) -> int:
    """Records that `recipient` received `categories` of each subject's data; one statement.

    `subjects` are sourcedIds (repeats count once), `recipient` the caller's subject or
    service id, `recipient_role` its role, `basis` STATUTORY_TASK, RIGHT_OF_ACCESS or a
    consent id; `at` defaults to now. Returns the number of rows written.
    """
    wanted = sorted(set(categories))
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise UnknownDisclosureCategoryError(
            f"disclosure categories {unknown} are not among {sorted(CATEGORIES)}"
        )
    when = (at or datetime.now(UTC)).astimezone(UTC)
    # Sorted, so concurrent requests lock the rows they share in the same order.
    rows = [
        {"tenant": tenant, "subject": subject, "recipient": recipient, "category": category,
         "basis": basis, "day": when.date(), "recipient_role": recipient_role,
         "first_at": when, "last_at": when, "count": 1}
        for subject in sorted(set(subjects))
        for category in wanted
    ]
    if not rows:
        return 0
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(disclosures).values(rows)
    new, old = statement.excluded, disclosures.c
    statement = statement.on_conflict_do_update(
        index_elements=[c for c in disclosures.primary_key.columns],
        set_={
            "recipient_role": new.recipient_role,
            "first_at": sa.case((new.first_at < old.first_at, new.first_at), else_=old.first_at),
            "last_at": sa.case((new.last_at > old.last_at, new.last_at), else_=old.last_at),
            "count": old.count + new.count,
        },
    )
    with engine.begin() as connection:
        connection.execute(statement)
    return len(rows)


def disclosures_of(engine: Engine, tenant: str, subject: str) -> list[Disclosure]:
    """Everything recorded as disclosed of `subject`, oldest first."""
    d = disclosures
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(d)
            .where(d.c.tenant == tenant, d.c.subject == subject)
            .order_by(d.c.day, d.c.first_at, d.c.recipient, d.c.category)
        ).mappings()
        return [
            Disclosure(
                recipient=r["recipient"],
                recipient_role=r["recipient_role"],
                category=r["category"],
                basis=r["basis"],
                day=r["day"],
                first_at=_utc(r["first_at"]),
                last_at=_utc(r["last_at"]),
                count=r["count"],
            )
            for r in rows
        ]


def user_detail_categories(details: Mapping[str, Any]) -> list[str]:
    """The categories of a user's opened personal fields: contact (e-mail, phone), identity."""
    present = {name for name, value in details.items() if value not in (None, "", [])}
    categories = []
    if present - CONTACT_FIELDS:
        categories.append("identity")
    if present & CONTACT_FIELDS:
        categories.append("contact")
    return categories


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes (stored in UTC); PostgreSQL aware ones.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
