"""The guardian view read model: what a guardian (or the student) sees of a child.

Per tenant it keeps the guardian links (OneRoster user agents), each student's classes and
their teachers (from enrollments), results with the sealed verbal assessment (the latest
correction wins), the latest attainment level per objective, and the consents given for
the student with their state (granted, revoked, expired). Names, birth dates and verbal
assessments stay sealed; the API unseals them at read time with the subject's key, and on
an erasure the shredded values are blanked and the erasure confirmed (projections/erasure.py).

The reads of these tables (`read_child_view`, `linked_children` …) are in
projections/guardian_view_queries.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.consent import EXPIRED, GRANTED, REVOKED
from projections import erasure
from projections.base import Handler
from projections.batch_writes import batch_aware
from projections.gradebook_rows import (
    AttainmentRows,
    LineItemRows,
    ResultRows,
)
from projections.record_tables import (
    RecordNotProjectedError,
    ShreddedClasses,
    blank_personal,
    blank_sealed,
    event_type,
    insert_rows,
)
from projections.roster_rows import (
    ClassRows,
    CourseRows,
    DemographicsRows,
    EnrollmentRows,
    UserRows,
)
from streams.codec import EventEnvelope

__all__ = ["GuardianViewProjection"]


class GuardianViewProjection:
    """The guardians' (and students' own) views of every tenant."""

    #: 2: results say whether they were late.
    version: int = 2
    families: tuple[str, ...] = ("roster", "assessment", "attainment", "consent", "privacy")

    def __init__(self, name: str = "guardian_view") -> None:
        self.name = name
        self.metadata = sa.MetaData()
        m, p = self.metadata, name
        self.shredded = ShreddedClasses(m, prefix=p)
        self.users = UserRows(m, prefix=p, shredded=self.shredded)
        self.demographics = DemographicsRows(m, prefix=p, shredded=self.shredded)
        self.courses = CourseRows(m, prefix=p)
        self.classes = ClassRows(m, prefix=p)
        self.enrollments = EnrollmentRows(m, prefix=p)
        self.line_items = LineItemRows(m, prefix=p)
        self.results = ResultRows(m, prefix=p, comments=self.shredded)
        self.attainments = AttainmentRows(m, prefix=p)
        self.guardian_links = sa.Table(
            f"{p}_guardian_links",
            m,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("student", sa.String(128), primary_key=True),
            sa.Column("guardian", sa.String(128), primary_key=True),
            sa.Index(f"{p}_guardian_links_guardian", "tenant", "guardian"),
        )
        self.consents = sa.Table(
            f"{p}_consents",
            m,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("consent_id", sa.String(36), primary_key=True),
            sa.Column("student", sa.String(128), nullable=False),
            sa.Column("granted_by", sa.String(128), nullable=False),
            sa.Column("grantor_relation", sa.String(32), nullable=False),
            sa.Column("recipient", sa.String(128), nullable=False),
            sa.Column("purposes", sa.JSON, nullable=False),
            sa.Column("categories", sa.JSON, nullable=False),
            sa.Column("valid_until", sa.Date, nullable=True),
            sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("revoked_by", sa.String(128), nullable=True),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("expired_on", sa.Date, nullable=True),
            sa.Index(f"{p}_consents_student", "tenant", "student"),
        )
        handlers: dict[str, Handler] = {
            event_type("roster", "user", "guardian_linked"): self._guardian_linked,
            event_type("roster", "user", "guardian_unlinked"): self._guardian_unlinked,
            event_type("consent", "consent", "granted"): self._consent_granted,
            event_type("consent", "consent", "revoked"): self._consent_revoked,
            event_type("consent", "consent", "expired"): self._consent_expired,
        }
        for block in (
            self.users,
            self.demographics,
            self.courses,
            self.classes,
            self.enrollments,
            self.line_items,
            self.results,
            self.attainments,
        ):
            handlers.update(block.handlers)
        self.confirmations = erasure.confirmations_table(m, prefix=p)
        for shredding in erasure.SHREDDING_EVENTS:
            handlers[shredding] = self._erased
        self.handlers: Mapping[str, Handler] = handlers

    def _erased(self, c: Connection, e: EventEnvelope) -> None:
        """Blanks the subject's sealed names, demographics and verbal assessments of the
        shredded classes, then confirms."""
        subject = erasure.subject_of(c, self.confirmations, e)
        shredded = erasure.shredded_classes(e)
        self.shredded.add(c, e.tenant, subject, shredded)
        personal = (self.users.table, self.demographics.table)
        blank_personal(c, personal, shredded, tenant=e.tenant, subject=subject)
        r = self.results.table
        blank_sealed(c, r, "comment", shredded, r.c.tenant == e.tenant, r.c.student == subject)
        erasure.confirm(c, self.confirmations, e, subject)

    @batch_aware
    def _guardian_linked(self, c: Connection, e: EventEnvelope) -> None:
        student = self.users.sourced_id(c, e)
        insert_rows(
            c,
            self.guardian_links,
            [{"tenant": e.tenant, "student": student, "guardian": e.payload["guardian"]}],
        )

    def _guardian_unlinked(self, c: Connection, e: EventEnvelope) -> None:
        g = self.guardian_links
        c.execute(
            g.delete().where(
                g.c.tenant == e.tenant,
                g.c.student == self.users.sourced_id(c, e),
                g.c.guardian == e.payload["guardian"],
            )
        )

    def _consent_granted(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        c.execute(
            self.consents.insert().values(
                tenant=e.tenant,
                consent_id=str(e.aggregate_id),
                student=p["student"],
                granted_by=p["granted_by"],
                grantor_relation=p["grantor_relation"],
                recipient=p["recipient"],
                purposes=p["purposes"],
                categories=p["categories"],
                valid_until=p["valid_until"],
                granted_at=p["granted_at"],
                state=GRANTED,
            )
        )

    def _consent_revoked(self, c: Connection, e: EventEnvelope) -> None:
        self._consent_ended(
            c,
            e,
            state=REVOKED,
            revoked_by=e.payload["revoked_by"],
            revoked_at=e.payload["revoked_at"],
        )

    def _consent_expired(self, c: Connection, e: EventEnvelope) -> None:
        self._consent_ended(c, e, state=EXPIRED, expired_on=e.payload["expired_on"])

    def _consent_ended(self, c: Connection, e: EventEnvelope, **values: Any) -> None:
        k = self.consents
        changed = c.execute(
            k.update()
            .where(k.c.tenant == e.tenant, k.c.consent_id == str(e.aggregate_id))
            .values(**values)
        ).rowcount
        if not changed:
            raise RecordNotProjectedError(
                f"{e.event_type} at position {e.position} ends consent {e.aggregate_id}, "
                f"which has no row in {k.name}"
            )
