"""Rows the roster read model keeps for the OneRoster provider beside the roster itself.

- ConsentRows: one row per consent and data category — which service a family let see
  which of a student's data, from when until when — through which consent-based clients
  read (projections/reads/oneroster_consent.py).
- ParentDates: a parent (org, academic session) shows its `children`, so a child joining
  or leaving it moves its dateLastModified.
- CategoryRows, ScoreScaleRows: the gradebook categories and score scales services (or
  the school) define.

Each block is a table and the handlers that fill it, as in projections/gradebook_rows.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections.base import Handler
from projections.record_tables import (
    SOURCED_ID,
    copying_handler,
    event_type,
    inserting_handler,
    list_column,
    record_table,
    ref_column,
    status_handlers,
)
from streams.codec import EventEnvelope

__all__ = [
    "CategoryRows",
    "ConsentRows",
    "ParentDates",
    "ScoreScaleRows",
    "modified_at_least",
]


def modified_at_least(c: Connection, table: sa.Table, e: EventEnvelope, sourced_id: str) -> None:
    """Moves a record's dateLastModified to the event's time, never back: the event changed
    the record as its readers see it (an erasure blanking it, a child joining it)."""
    c.execute(
        table.update()
        .where(
            table.c.tenant == e.tenant,
            table.c.sourced_id == sourced_id,
            table.c.date_last_modified < e.occurred_at,
        )
        .values(date_last_modified=e.occurred_at)
    )


class ConsentRows:
    """Consents by recipient, student, category and purpose, with when each began and
    ended."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = sa.Table(
            f"{prefix}_consents",
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("consent_id", sa.String(36), primary_key=True),
            sa.Column("category", sa.String(32), primary_key=True),
            #: The consent's purposes, a row each: a consent-based client's agreement names
            #: one, and only consents for it count.
            sa.Column("purpose", sa.String(128), primary_key=True),
            sa.Column("student", sa.String(SOURCED_ID), nullable=False),
            sa.Column("recipient", sa.String(128), nullable=False),
            #: When the consent was recorded and when it ended (revoked or expired).
            sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
            sa.Index(f"{prefix}_consents_recipient", "tenant", "recipient", "student", "category"),
        )
        self.handlers: dict[str, Handler] = {
            event_type("consent", "consent", "granted"): self._granted,
            event_type("consent", "consent", "revoked"): self._ended,
            event_type("consent", "consent", "expired"): self._ended,
        }

    def _granted(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        rows = [
            {
                "tenant": e.tenant,
                "consent_id": str(e.aggregate_id),
                "category": category,
                "purpose": purpose,
                "student": p["student"],
                "recipient": p["recipient"],
                "granted_at": e.occurred_at,
                "ended_at": None,
            }
            for category in dict.fromkeys(p["categories"])
            for purpose in dict.fromkeys(p["purposes"])
        ]
        if rows:
            c.execute(self.table.insert(), rows)

    def _ended(self, c: Connection, e: EventEnvelope) -> None:
        """A revocation or an expiry: the consent's rows keep when it ended (the first end
        counts), so its recipient's reads show the student as `tobedeleted` from then."""
        k = self.table
        c.execute(
            k.update()
            .where(
                k.c.tenant == e.tenant,
                k.c.consent_id == str(e.aggregate_id),
                k.c.ended_at.is_(None),
            )
            .values(ended_at=e.occurred_at)
        )


class ParentDates:
    """When each parent's children last changed, so its dateLastModified follows them.

    The time is kept per parent as well as moved onto the parent's row, as topics are
    partitioned by aggregate: a parent's own events may be applied after its children's,
    and its date must never fall behind theirs, in whatever order they come."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = sa.Table(
            f"{prefix}_tree_changes",
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("tree", sa.String(32), primary_key=True),
            sa.Column("parent", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        )

    def kept(self, tree: str, table: sa.Table, handler: Handler) -> Handler:
        """`handler` of an event of a record of `tree` (org, academic session) kept in
        `table`, after which the record's parents before and after it gain the event's
        time, and the record's own date is no earlier than its children's last change."""
        tc = self.table

        def parent(c: Connection, e: EventEnvelope) -> str | None:
            found = c.execute(
                sa.select(table.c.parent).where(
                    table.c.tenant == e.tenant, table.c.aggregate_id == str(e.aggregate_id)
                )
            ).scalar()
            return None if found is None else str(found)

        def handle(c: Connection, e: EventEnvelope) -> None:
            before = parent(c, e)
            handler(c, e)
            after = parent(c, e)
            if before != after:
                for touched in sorted(p for p in (before, after) if p is not None):
                    self._children_changed(c, e, tree, table, touched)
            changed = (
                sa.select(tc.c.changed_at)
                .where(tc.c.tenant == table.c.tenant, tc.c.tree == tree)
                .where(tc.c.parent == table.c.sourced_id)
                .scalar_subquery()
            )
            c.execute(
                table.update()
                .where(
                    table.c.tenant == e.tenant,
                    table.c.aggregate_id == str(e.aggregate_id),
                    table.c.date_last_modified < changed,
                )
                .values(date_last_modified=changed)
            )

        return handle

    def _children_changed(
        self, c: Connection, e: EventEnvelope, tree: str, table: sa.Table, parent: str
    ) -> None:
        tc = self.table
        keys = (tc.c.tenant == e.tenant, tc.c.tree == tree, tc.c.parent == parent)
        moved = c.execute(
            tc.update()
            .where(*keys, tc.c.changed_at < e.occurred_at)
            .values(changed_at=e.occurred_at)
        ).rowcount
        if not moved and c.execute(sa.select(tc.c.parent).where(*keys)).first() is None:
            c.execute(
                tc.insert().values(
                    tenant=e.tenant, tree=tree, parent=parent, changed_at=e.occurred_at
                )
            )
        modified_at_least(c, table, e, parent)


class CategoryRows:
    """The gradebook categories defined (OneRoster 1.2 Category), with dateLastModified."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_categories",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("weight", sa.Float, nullable=True),
            last_modified=True,
        )
        self.handlers: dict[str, Handler] = {
            event_type("assessment", "category", "registered"): inserting_handler(
                self.table, "title", "weight"
            ),
            event_type("assessment", "category", "revised"): copying_handler(
                self.table, "title", "weight"
            ),
            **status_handlers("assessment", "category", self.table),
        }


class ScoreScaleRows:
    """The score scales defined for classes (OneRoster 1.2 ScoreScale), with
    dateLastModified; the built-in Finnish scales need no rows."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        name = f"{prefix}_score_scales"
        self.table = record_table(
            metadata,
            name,
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("scale_type", sa.String(64), nullable=False),
            ref_column("class_sourced_id", nullable=False),
            ref_column("course"),
            #: The values (itemValueLHS) and what each means (itemValueRHS), in order.
            list_column("values"),
            list_column("meanings"),
            sa.Index(f"{name}_class", "tenant", "class_sourced_id"),
            last_modified=True,
        )
        fields = ("title", "scale_type", "course", "values", "meanings")
        self.handlers: dict[str, Handler] = {
            event_type("assessment", "score_scale", "registered"): inserting_handler(
                self.table, *fields, class_sourced_id="school_class"
            ),
            event_type("assessment", "score_scale", "revised"): copying_handler(
                self.table, *fields
            ),
            **status_handlers("assessment", "score_scale", self.table),
        }
