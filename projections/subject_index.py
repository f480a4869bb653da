"""Which aggregates concern a data subject: the index the right-of-access export reads.

A user's demographics, enrollments, results, attainments, consents (granted for them or by
them) and erasure are aggregates of their own, whose ids do not follow from the user's
sourcedId. This read model records, from the event that creates each of them, which
subject it concerns, so the export (GDPR art. 15) finds a subject's aggregates with one
indexed SELECT and then loads them from the event store, the system of record. It also
keeps the store position of each event of those aggregates, which events loaded from the
store do not carry, so the export can show where each event stands in the log.

It holds no personal data: only pseudonymous sourcedIds, aggregate ids and positions. It
still takes part in erasure (projections/erasure.py), confirming each erasure event, so an
erasure receipt shows that every projection has done its part.

The export's read of it, `aggregates_of`, is in projections/subject_index_queries.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from projections import erasure
from projections.base import Handler, batch_state, take_batch_state
from projections.record_tables import SOURCED_ID, built_once, event_type
from streams.codec import EventEnvelope
from streams.event_types import catalogue

__all__ = ["SubjectIndexProjection"]

#: The aggregates (by their name in type strings) that concern a subject, and the kind
#: each is listed under.
KINDS: Mapping[str, str] = {
    "user": "user",
    "demographics": "demographics",
    "enrollment": "enrollment",
    "result": "result",
    "objective_attainment": "attainment",
    "consent": "consent",
    "erasure": "erasure",
}

#: The events that create an aggregate concerning someone: kind, and the payload fields
#: naming the subjects (sourcedIds) it concerns.
SUBJECT_FIELDS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    event_type("roster", "user", "registered"): ("user", ("sourced_id",)),
    event_type("roster", "demographics", "recorded"): ("demographics", ("sourced_id",)),
    event_type("roster", "enrollment", "started"): ("enrollment", ("user",)),
    event_type("assessment", "result", "recorded"): ("result", ("student",)),
    event_type("attainment", "objective_attainment", "assessed"): ("attainment", ("student",)),
    # A consent concerns the student and whoever granted it (a guardian, or the student).
    event_type("consent", "consent", "granted"): ("consent", ("student", "granted_by")),
    event_type("privacy", "erasure", "personal_data_erased"): ("erasure", ("subject",)),
}


class SubjectIndexProjection:
    """The subject → aggregates index of every tenant."""

    version: int = 1
    families: tuple[str, ...] = ("roster", "assessment", "attainment", "consent", "privacy")

    def __init__(self, name: str = "subject_index") -> None:
        self.name = name
        self.metadata = sa.MetaData()
        self.subjects = sa.Table(
            f"{name}_subjects",
            self.metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("subject", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("kind", sa.String(16), primary_key=True),
            sa.Column("aggregate_id", sa.String(36), primary_key=True),
        )
        self.positions = sa.Table(
            f"{name}_positions",
            self.metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("aggregate_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, primary_key=True),
            sa.Column("position", sa.BigInteger, nullable=False),
        )
        self.confirmations = erasure.confirmations_table(self.metadata, prefix=name)
        # Every event of an aggregate that concerns a subject gets its position recorded;
        # creations are indexed too, and erasure events confirmed.
        self.handlers: Mapping[str, Handler] = {
            t.type_name: self._applied for t in catalogue() if t.type_name.split(".")[3] in KINDS
        }

    def _applied(self, c: Connection, e: EventEnvelope) -> None:
        # The rows are only ever added, and a duplicate is left as it is, so a batch's rows
        # are inserted together when it finishes (one statement per table, not two per event).
        held = self._held(c)
        held.positions.append(
            {
                "tenant": e.tenant,
                "aggregate_id": str(e.aggregate_id),
                "version": e.aggregate_version,
                "position": e.position,
            }
        )
        spec = SUBJECT_FIELDS.get(e.event_type)
        if spec is not None:
            kind, fields = spec
            subjects = {str(e.payload[f]) for f in fields if e.payload.get(f)}
            held.subjects.extend(
                {
                    "tenant": e.tenant,
                    "subject": s,
                    "kind": kind,
                    "aggregate_id": str(e.aggregate_id),
                }
                for s in sorted(subjects)
            )
        if e.event_type in erasure.SHREDDING_EVENTS:
            # Nothing personal is held here, so there is nothing to blank: only confirm
            # (after the batch's rows so far, which the confirmation reads).
            self.finish_batch(c)
            erasure.confirm(c, self.confirmations, e, erasure.subject_of(c, self.confirmations, e))

    def _held(self, c: Connection) -> _HeldRows:
        return batch_state(c, f"digione.held_rows.{self.name}", _HeldRows)

    def finish_batch(self, c: Connection) -> None:
        """Inserts the rows the batch's events added (runner: once per batch)."""
        held: _HeldRows | None = take_batch_state(c, f"digione.held_rows.{self.name}")
        if held is None:
            return
        _insert_ignoring_duplicates(c, self.positions, held.positions)
        _insert_ignoring_duplicates(c, self.subjects, held.subjects)


class _HeldRows:
    """The index rows of one transaction's events, inserted when its batch finishes."""

    def __init__(self) -> None:
        self.positions: list[dict[str, Any]] = []
        self.subjects: list[dict[str, Any]] = []


def _insert_ignoring_duplicates(
    c: Connection, table: sa.Table, rows: Iterable[dict[str, Any]]
) -> None:
    """Inserts rows, leaving any already there (a consent its student granted names them twice).

    One statement, built once per table and kept in its `info`, executed for all the rows
    at once (an executemany, which psycopg sends in one pipeline): a statement with the
    rows in it was compiled anew for every number of rows, most of the projection's SQL
    compiling under a steady load."""
    values = list(rows)
    if not values:
        return
    insert = postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert
    # Keyed by the dialect too: the statement is the dialect's own construct.
    statement = built_once(
        table,
        ("digione_insert_ignoring", c.dialect.name),
        lambda: insert(table).on_conflict_do_nothing(),
    )
    c.execute(statement, values)
