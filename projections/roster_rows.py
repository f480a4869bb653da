"""Roster blocks of the read models: users, demographics, courses, classes, sessions, enrollments.

Each block owns a table named with its projection's prefix and the handlers that keep it
(projections/record_tables.py has the kit they are built with and the ordering rules).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections.base import Handler
from projections.batch_writes import batch_aware
from projections.record_tables import (
    RecordNotProjectedError,
    ShreddedClasses,
    copying_handler,
    event_type,
    insert_record,
    inserting_handler,
    list_column,
    record_sourced_id,
    record_table,
    ref_column,
    status_handlers,
)
from projections.sealed import sealed_record
from streams.codec import EventEnvelope

__all__ = [
    "ClassRows",
    "CourseRows",
    "DemographicsRows",
    "EnrollmentRows",
    "SessionRows",
    "UserRows",
]


class UserRows:
    """Users with their sealed personal fields (names, e-mail …), never plaintext."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str, shredded: ShreddedClasses) -> None:
        self._shredded = shredded
        self.table = record_table(
            metadata, f"{prefix}_users", sa.Column("personal", sa.JSON, nullable=False)
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "user", "registered"): self._registered,
            event_type("roster", "user", "personal_details_corrected"): self._corrected,
            **status_handlers("roster", "user", t),
        }

    @batch_aware
    def _registered(self, c: Connection, e: EventEnvelope) -> None:
        personal = sealed_record(e.payload["personal"])
        personal = self._shredded.stored(c, e.tenant, e.payload["sourced_id"], personal)
        insert_record(c, self.table, e, personal=personal)

    @batch_aware
    def _corrected(self, c: Connection, e: EventEnvelope) -> None:
        self._shredded.update_sealed(c, self.table, e, sealed_record(e.payload["personal"]))

    def sourced_id(self, c: Connection, e: EventEnvelope) -> str:
        """The sourcedId of the user an event (of the user aggregate) is about."""
        found = record_sourced_id(c, self.table, e)
        if found is None:
            raise RecordNotProjectedError(
                f"{e.event_type} at position {e.position} is about user aggregate "
                f"{e.aggregate_id}, which has no row in {self.table.name}"
            )
        return found


class DemographicsRows:
    """Demographics (OneRoster: the sourcedId of their user), all of it sealed."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str, shredded: ShreddedClasses) -> None:
        self._shredded = shredded
        self.table = record_table(
            metadata, f"{prefix}_demographics", sa.Column("personal", sa.JSON, nullable=False)
        )
        self.handlers: dict[str, Handler] = {
            event_type("roster", "demographics", "recorded"): self._recorded,
            event_type("roster", "demographics", "corrected"): self._corrected,
            **status_handlers("roster", "demographics", self.table),
        }

    @batch_aware
    def _recorded(self, c: Connection, e: EventEnvelope) -> None:
        personal = sealed_record(e.payload["personal"])
        personal = self._shredded.stored(c, e.tenant, e.payload["sourced_id"], personal)
        insert_record(c, self.table, e, personal=personal)

    @batch_aware
    def _corrected(self, c: Connection, e: EventEnvelope) -> None:
        self._shredded.update_sealed(c, self.table, e, sealed_record(e.payload["personal"]))


class CourseRows:
    """Courses: their title and the subjects and grades a class inherits when it names none."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_courses",
            sa.Column("title", sa.Text, nullable=False),
            list_column("grades"),
            list_column("subject_codes"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "course", "registered"): inserting_handler(
                t, "title", "grades", "subject_codes"
            ),
            event_type("roster", "course", "retitled"): copying_handler(t, "title"),
            event_type("roster", "course", "curriculum_changed"): copying_handler(
                t, "grades", "subject_codes"
            ),
            **status_handlers("roster", "course", t),
        }


class ClassRows:
    """Classes: title, course, school, grades, subject codes and terms."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_classes",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("class_code", sa.String(256), nullable=True),
            ref_column("course", nullable=False),
            ref_column("school", nullable=False),
            list_column("grades"),
            list_column("subject_codes"),
            list_column("terms"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "class", "registered"): inserting_handler(
                t, "title", "class_code", "course", "school", "grades", "subject_codes", "terms"
            ),
            event_type("roster", "class", "details_corrected"): copying_handler(
                t, "title", "class_code", "grades", "subject_codes"
            ),
            event_type("roster", "class", "terms_changed"): copying_handler(t, "terms"),
            event_type("roster", "class", "moved"): copying_handler(t, "course", "school"),
            **status_handlers("roster", "class", t),
        }


class SessionRows:
    """Academic sessions: the dates a term filter selects by."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_academic_sessions",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("start_date", sa.Date, nullable=False),
            sa.Column("end_date", sa.Date, nullable=False),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "academic_session", "registered"): inserting_handler(
                t, "title", "start_date", "end_date", type="session_type"
            ),
            event_type("roster", "academic_session", "retitled"): copying_handler(t, "title"),
            event_type("roster", "academic_session", "rescheduled"): copying_handler(
                t, "start_date", "end_date"
            ),
            event_type("roster", "academic_session", "reclassified"): copying_handler(
                t, type="session_type"
            ),
            **status_handlers("roster", "academic_session", t),
        }


class EnrollmentRows:
    """Enrollments: who is in which class, in which role, between which dates."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        name = f"{prefix}_enrollments"
        self.table = record_table(
            metadata,
            name,
            ref_column("user_sourced_id", nullable=False),
            ref_column("class_sourced_id", nullable=False),
            sa.Column("role", sa.String(64), nullable=False),
            sa.Column("begin_date", sa.Date, nullable=True),
            sa.Column("end_date", sa.Date, nullable=True),
            sa.Index(f"{name}_class", "tenant", "class_sourced_id", "role"),
            sa.Index(f"{name}_user", "tenant", "user_sourced_id", "role"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "enrollment", "started"): inserting_handler(
                t,
                "role",
                "begin_date",
                "end_date",
                user_sourced_id="user",
                class_sourced_id="school_class",
            ),
            event_type("roster", "enrollment", "ended"): copying_handler(t, "end_date"),
            event_type("roster", "enrollment", "rescheduled"): copying_handler(
                t, "begin_date", "end_date"
            ),
            **status_handlers("roster", "enrollment", t),
        }
