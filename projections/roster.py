"""The roster read model: OneRoster 1.2 shaped tables built from every roster event.

Orgs, academic sessions, courses, classes, users, enrollments and demographics, each keyed
(tenant, sourcedId) with its OneRoster `status` and `dateLastModified` (the time of the
last event applied to it), plus lookup tables for the usual OneRoster filters: a class's
terms, a user's roles per org, a user's agents (guardians). Indexes follow the REST
endpoints that will read them: class → enrollments, user → enrollments, school → classes,
school → users by role, guardian → children. The gradebook's line items and results
(projections/gradebook_rows.py, with `dateLastModified` here) are what the OneRoster
gradebook service reads.

Personal fields stay sealed: users' and demographics' `personal` columns hold the sealed
record as it was published (projections/sealed.py) and the API unseals it at read time,
so no plaintext personal data ever lands here and erasing a key erases this copy too.

Its records are kept with the shared record kit (projections/record_tables.py); what the
OneRoster provider needs beside the roster (consents, parents' dates, the gradebook's
categories and score scales) is in projections/oneroster_rows.py. The module is a little
over STYLE's ~500 lines: its ten tables and the handlers that fill them are one OneRoster
model, read side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections import erasure
from projections.base import Handler
from projections.batch_writes import batch_aware, writes_held
from projections.gradebook_rows import LineItemRows, ResultRows
from projections.oneroster_rows import (
    CategoryRows,
    ConsentRows,
    ParentDates,
    ScoreScaleRows,
    modified_at_least,
)
from projections.record_tables import (
    SOURCED_ID,
    ShreddedClasses,
    blank_personal,
    blank_sealed,
    copying_handler,
    event_type,
    fixed_handler,
    insert_record,
    insert_rows,
    inserting_handler,
    list_column,
    record_not_projected,
    record_table,
    ref_column,
    status_handlers,
    update_record,
)
from projections.sealed import sealed_record
from streams.codec import EventEnvelope

__all__ = ["IGNORED_EVENT_TYPES", "RosterProjection", "RosterTables"]


def roster_type(aggregate: str, event: str) -> str:
    """The type name of a roster event, e.g. roster_type("user", "registered")."""
    return event_type("roster", aggregate, event)


#: Class membership events repeat what enrollments say (the class aggregate keeps them to
#: check who may assess its students); the enrollments table already answers "who is in
#: this class", so these only advance the position.
IGNORED_EVENT_TYPES = frozenset(
    {roster_type("class", "member_joined"), roster_type("class", "member_left")}
)

#: A class's details as registered, which a correction of them replaces.
_CLASS_DETAILS = (
    "title",
    "class_code",
    "class_type",
    "location",
    "grades",
    "subjects",
    "subject_codes",
    "periods",
)


@dataclass(frozen=True)
class RosterTables:
    """The tables of one roster read model; names start with the projection's name."""

    orgs: sa.Table
    academic_sessions: sa.Table
    courses: sa.Table
    classes: sa.Table
    class_terms: sa.Table
    users: sa.Table
    user_roles: sa.Table
    user_agents: sa.Table
    enrollments: sa.Table
    demographics: sa.Table

    @classmethod
    def define(cls, metadata: sa.MetaData, *, prefix: str) -> RosterTables:
        p = prefix
        orgs = record_table(
            metadata,
            f"{p}_orgs",
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("identifier", sa.String(256), nullable=False),
            ref_column("parent"),
            last_modified=True,
        )
        sa.Index(f"{p}_orgs_parent", orgs.c.tenant, orgs.c.parent)
        sa.Index(f"{p}_orgs_type", orgs.c.tenant, orgs.c.type)

        sessions = record_table(
            metadata,
            f"{p}_academic_sessions",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("start_date", sa.Date, nullable=False),
            sa.Column("end_date", sa.Date, nullable=False),
            ref_column("parent"),
            sa.Column("school_year", sa.String(16), nullable=False),
            last_modified=True,
        )
        sa.Index(f"{p}_academic_sessions_type", sessions.c.tenant, sessions.c.type)
        sa.Index(f"{p}_academic_sessions_parent", sessions.c.tenant, sessions.c.parent)

        courses = record_table(
            metadata,
            f"{p}_courses",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("course_code", sa.String(256), nullable=False),
            sa.Column("school_year", sa.String(SOURCED_ID), nullable=True),
            ref_column("org"),
            list_column("grades"),
            list_column("subjects"),
            list_column("subject_codes"),
            last_modified=True,
        )
        sa.Index(f"{p}_courses_org", courses.c.tenant, courses.c.org)
        sa.Index(f"{p}_courses_school_year", courses.c.tenant, courses.c.school_year)

        classes = record_table(
            metadata,
            f"{p}_classes",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("class_code", sa.String(256), nullable=True),
            sa.Column("class_type", sa.String(64), nullable=True),
            sa.Column("location", sa.Text, nullable=True),
            list_column("grades"),
            list_column("subjects"),
            list_column("subject_codes"),
            list_column("periods"),
            ref_column("course", nullable=False),
            ref_column("school", nullable=False),
            list_column("terms"),
            last_modified=True,
        )
        sa.Index(f"{p}_classes_school", classes.c.tenant, classes.c.school)
        sa.Index(f"{p}_classes_course", classes.c.tenant, classes.c.course)

        class_terms = sa.Table(
            f"{p}_class_terms",
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("class_sourced_id", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("term", sa.String(SOURCED_ID), primary_key=True),
            sa.Index(f"{p}_class_terms_term", "tenant", "term"),
        )

        users = record_table(
            metadata,
            f"{p}_users",
            sa.Column("enabled_user", sa.Boolean, nullable=False),
            ref_column("primary_org"),
            list_column("grades"),
            #: [{roleType, role, org, beginDate, endDate}] in OneRoster order.
            list_column("roles"),
            #: The sourcedIds of the user's agents (guardians), in the order linked.
            list_column("agents"),
            #: The sealed personal fields (names, e-mail, identifiers …): never plaintext.
            sa.Column("personal", sa.JSON, nullable=False),
            last_modified=True,
        )
        sa.Index(f"{p}_users_primary_org", users.c.tenant, users.c.primary_org)

        user_roles = sa.Table(
            f"{p}_user_roles",
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("user_sourced_id", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("role", sa.String(64), primary_key=True),
            sa.Column("org", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("role_type", sa.String(16), nullable=False),
            sa.Column("begin_date", sa.Date, nullable=True),
            sa.Column("end_date", sa.Date, nullable=True),
            sa.Index(f"{p}_user_roles_org", "tenant", "org", "role"),
            sa.Index(f"{p}_user_roles_role", "tenant", "role"),
        )

        user_agents = sa.Table(
            f"{p}_user_agents",
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("user_sourced_id", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("agent", sa.String(SOURCED_ID), primary_key=True),
            sa.Index(f"{p}_user_agents_agent", "tenant", "agent"),
        )

        enrollments = record_table(
            metadata,
            f"{p}_enrollments",
            ref_column("user_sourced_id", nullable=False),
            ref_column("class_sourced_id", nullable=False),
            ref_column("school", nullable=False),
            sa.Column("role", sa.String(64), nullable=False),
            sa.Column("primary", sa.Boolean, nullable=False),
            sa.Column("begin_date", sa.Date, nullable=True),
            sa.Column("end_date", sa.Date, nullable=True),
            last_modified=True,
        )
        sa.Index(
            f"{p}_enrollments_class",
            enrollments.c.tenant,
            enrollments.c.class_sourced_id,
            enrollments.c.role,
        )
        sa.Index(f"{p}_enrollments_user", enrollments.c.tenant, enrollments.c.user_sourced_id)
        sa.Index(f"{p}_enrollments_school", enrollments.c.tenant, enrollments.c.school)

        demographics = record_table(
            metadata,
            f"{p}_demographics",
            sa.Column("personal", sa.JSON, nullable=False),
            last_modified=True,
        )
        return cls(
            orgs=orgs,
            academic_sessions=sessions,
            courses=courses,
            classes=classes,
            class_terms=class_terms,
            users=users,
            user_roles=user_roles,
            user_agents=user_agents,
            enrollments=enrollments,
            demographics=demographics,
        )

    def all(self) -> list[sa.Table]:
        return [
            self.orgs,
            self.academic_sessions,
            self.courses,
            self.classes,
            self.class_terms,
            self.users,
            self.user_roles,
            self.user_agents,
            self.enrollments,
            self.demographics,
        ]


class RosterProjection:
    """The OneRoster-shaped roster read model of every tenant."""

    #: 3: an erasure that blanks a record's personal fields moves its dateLastModified.
    #: 4: the gradebook (line items and results, with dateLastModified) for OneRoster.
    #: 5: consents, for the OneRoster reads of consent-based clients.
    #: 6: a parent's dateLastModified moves when its `children` change.
    #: 7: results keep their sealed verbal assessment (`comment`), blanked on erasure.
    #: 8: the gradebook categories and score scales services define.
    #: 9: a consent row per purpose (consent-based clients count only their own purpose).
    #: 10: a user or demographics record applied after its subject's erasure (a rebuild
    #:     from the topics reads the privacy topic apart from the roster's) is stored blanked.
    version: int = 10
    families: tuple[str, ...] = ("roster", "assessment", "consent", "privacy")

    def __init__(self, name: str = "roster") -> None:
        self.name = name
        self.metadata = sa.MetaData()
        self.tables = RosterTables.define(self.metadata, prefix=name)
        self.confirmations = erasure.confirmations_table(self.metadata, prefix=name)
        #: The OneRoster gradebook: line items and results as the provider serves them.
        self.line_items = LineItemRows(self.metadata, prefix=name, last_modified=True)
        #: The retention classes shredded per subject, so a result's comment applied after
        #: its erasure (topics are not ordered) is blanked on the way in.
        self.shredded = ShreddedClasses(self.metadata, prefix=name)
        self.results = ResultRows(
            self.metadata, prefix=name, last_modified=True, comments=self.shredded
        )
        #: Consents (consent-based clients), parents' children's changes, and the gradebook
        #: categories and score scales services define: projections/oneroster_rows.py.
        self.consents = ConsentRows(self.metadata, prefix=name)
        self.parent_dates = ParentDates(self.metadata, prefix=name)
        self.categories = CategoryRows(self.metadata, prefix=name)
        self.score_scales = ScoreScaleRows(self.metadata, prefix=name)
        t = self.tables
        self._insert_class = inserting_handler(
            t.classes, *_CLASS_DETAILS, "course", "school", "terms"
        )
        handlers: dict[str, Handler] = {
            roster_type("org", "registered"): inserting_handler(
                t.orgs, "name", "identifier", "parent", type="org_type"
            ),
            roster_type("org", "renamed"): copying_handler(t.orgs, "name"),
            roster_type("org", "reclassified"): copying_handler(
                t.orgs, "identifier", type="org_type"
            ),
            roster_type("org", "reparented"): copying_handler(t.orgs, "parent"),
            roster_type("academic_session", "registered"): inserting_handler(
                t.academic_sessions,
                "title",
                "start_date",
                "end_date",
                "parent",
                "school_year",
                type="session_type",
            ),
            roster_type("academic_session", "retitled"): copying_handler(
                t.academic_sessions, "title"
            ),
            roster_type("academic_session", "rescheduled"): copying_handler(
                t.academic_sessions, "start_date", "end_date"
            ),
            roster_type("academic_session", "reclassified"): copying_handler(
                t.academic_sessions, "parent", "school_year", type="session_type"
            ),
            roster_type("course", "registered"): inserting_handler(
                t.courses,
                "title",
                "course_code",
                "school_year",
                "org",
                "grades",
                "subjects",
                "subject_codes",
            ),
            roster_type("course", "retitled"): copying_handler(t.courses, "title", "course_code"),
            roster_type("course", "curriculum_changed"): copying_handler(
                t.courses, "grades", "subjects", "subject_codes"
            ),
            roster_type("course", "moved"): copying_handler(t.courses, "org", "school_year"),
            roster_type("class", "registered"): self._class_registered,
            roster_type("class", "details_corrected"): copying_handler(t.classes, *_CLASS_DETAILS),
            roster_type("class", "terms_changed"): self._class_terms_changed,
            roster_type("class", "moved"): copying_handler(t.classes, "course", "school"),
            roster_type("user", "registered"): self._user_registered,
            roster_type("user", "personal_details_corrected"): self._sealed_changed(t.users),
            roster_type("user", "role_assigned"): self._user_role_assigned,
            roster_type("user", "role_removed"): self._user_role_removed,
            roster_type("user", "guardian_linked"): self._user_guardian_linked,
            roster_type("user", "guardian_unlinked"): self._user_guardian_unlinked,
            roster_type("user", "enabled"): fixed_handler(t.users, enabled_user=True),
            roster_type("user", "disabled"): fixed_handler(t.users, enabled_user=False),
            roster_type("user", "placement_changed"): copying_handler(
                t.users, "primary_org", "grades"
            ),
            roster_type("enrollment", "started"): inserting_handler(
                t.enrollments,
                "school",
                "role",
                "primary",
                "begin_date",
                "end_date",
                user_sourced_id="user",
                class_sourced_id="school_class",
            ),
            roster_type("enrollment", "ended"): copying_handler(t.enrollments, "end_date"),
            roster_type("enrollment", "rescheduled"): copying_handler(
                t.enrollments, "begin_date", "end_date"
            ),
            roster_type("enrollment", "primary_changed"): copying_handler(t.enrollments, "primary"),
            roster_type("demographics", "recorded"): self._demographics_recorded,
            roster_type("demographics", "corrected"): self._sealed_changed(t.demographics),
        }
        for aggregate, table in (
            ("org", t.orgs),
            ("academic_session", t.academic_sessions),
            ("course", t.courses),
            ("class", t.classes),
            ("user", t.users),
            ("enrollment", t.enrollments),
            ("demographics", t.demographics),
        ):
            handlers.update(status_handlers("roster", aggregate, table))
        for tree, table in (("org", t.orgs), ("academic_session", t.academic_sessions)):
            for type_name, handler in list(handlers.items()):
                if type_name.startswith(roster_type(tree, "")[: -len(".v1")]):
                    handlers[type_name] = self.parent_dates.kept(tree, table, handler)
        for block in (self.consents, self.categories, self.score_scales):
            handlers.update(block.handlers)
        handlers.update(self.line_items.handlers)
        handlers.update(self.results.handlers)
        for shredding in erasure.SHREDDING_EVENTS:
            handlers[shredding] = self._erased
        self.handlers: Mapping[str, Handler] = handlers

    def _erased(self, c: Connection, e: EventEnvelope) -> None:
        """Blanks the subject's sealed values of the shredded classes, then confirms.

        A record whose personal fields are blanked has changed as its readers see it, so its
        dateLastModified moves to the erasure's time (never back): a OneRoster client's delta
        sync (`filter=dateLastModified>'…'`) then fetches the blanked record too.
        """
        subject = erasure.subject_of(c, self.confirmations, e)
        shredded = erasure.shredded_classes(e)
        self.shredded.add(c, e.tenant, subject, shredded)
        r = self.results.table
        blank_sealed(
            c, r, "comment", shredded, r.c.tenant == e.tenant, r.c.student == subject,
            modified_at=e.occurred_at,
        )  # fmt: skip
        personal = (self.tables.users, self.tables.demographics)
        for table in personal:
            rows = c.execute(
                sa.select(table.c.personal, table.c.date_last_modified).where(
                    table.c.tenant == e.tenant, table.c.sourced_id == subject
                )
            ).all()
            if any(erasure.blank(row[0], shredded) != row[0] for row in rows):
                modified_at_least(c, table, e, subject)
        blank_personal(c, personal, shredded, tenant=e.tenant, subject=subject)
        erasure.confirm(c, self.confirmations, e, subject)

    # -- registrations -------------------------------------------------------------------

    @batch_aware
    def _class_registered(self, c: Connection, e: EventEnvelope) -> None:
        self._insert_class(c, e)
        self._write_class_terms(c, e.tenant, e.payload["sourced_id"], e.payload["terms"])

    @batch_aware
    def _user_registered(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        # As the User aggregate does: one role per (role, org), the last one given wins.
        by_key = {(r["role"], r["org"]): _role(r) for r in p["roles"]}
        insert_record(
            c,
            self.tables.users,
            e,
            enabled_user=p["enabled"],
            primary_org=p["primary_org"],
            grades=p["grades"],
            roles=list(by_key.values()),
            agents=[],
            # Blanked if the erasure came first, as a rebuild from the topics may apply it.
            personal=self.shredded.stored(
                c, e.tenant, p["sourced_id"], sealed_record(p["personal"])
            ),
        )
        for role in by_key.values():
            self._write_user_role(c, e.tenant, p["sourced_id"], role)

    @batch_aware
    def _demographics_recorded(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        personal = self.shredded.stored(c, e.tenant, p["sourced_id"], sealed_record(p["personal"]))
        insert_record(c, self.tables.demographics, e, personal=personal)

    # -- changes -------------------------------------------------------------------------

    def _sealed_changed(self, table: sa.Table) -> Handler:
        @batch_aware
        def handle(c: Connection, e: EventEnvelope) -> None:
            self.shredded.update_sealed(c, table, e, sealed_record(e.payload["personal"]))

        return handle

    def _class_terms_changed(self, c: Connection, e: EventEnvelope) -> None:
        terms = e.payload["terms"]
        sourced_id = update_record(c, self.tables.classes, e, {"terms": terms})
        ct = self.tables.class_terms
        c.execute(ct.delete().where(ct.c.tenant == e.tenant, ct.c.class_sourced_id == sourced_id))
        self._write_class_terms(c, e.tenant, sourced_id, terms)

    def _user_role_assigned(self, c: Connection, e: EventEnvelope) -> None:
        role = _role(e.payload["role"])
        sourced_id, roles, _ = self._user(c, e)
        key = (role["role"], role["org"])
        # Replaced in place, appended when new: the order the User aggregate keeps.
        for index, existing in enumerate(roles):
            if (existing["role"], existing["org"]) == key:
                roles[index] = role
                break
        else:
            roles.append(role)
        update_record(c, self.tables.users, e, {"roles": roles})
        self._delete_user_role(c, e.tenant, sourced_id, *key)
        self._write_user_role(c, e.tenant, sourced_id, role)

    def _user_role_removed(self, c: Connection, e: EventEnvelope) -> None:
        key = (e.payload["role"], e.payload["org"])
        sourced_id, roles, _ = self._user(c, e)
        kept = [r for r in roles if (r["role"], r["org"]) != key]
        update_record(c, self.tables.users, e, {"roles": kept})
        self._delete_user_role(c, e.tenant, sourced_id, *key)

    @batch_aware
    def _user_guardian_linked(self, c: Connection, e: EventEnvelope) -> None:
        guardian = e.payload["guardian"]
        sourced_id, _, agents = self._user(c, e)
        update_record(c, self.tables.users, e, {"agents": [*agents, guardian]})
        insert_rows(
            c,
            self.tables.user_agents,
            [{"tenant": e.tenant, "user_sourced_id": sourced_id, "agent": guardian}],
        )

    def _user_guardian_unlinked(self, c: Connection, e: EventEnvelope) -> None:
        guardian = e.payload["guardian"]
        sourced_id, _, agents = self._user(c, e)
        if guardian in agents:
            agents.remove(guardian)
        update_record(c, self.tables.users, e, {"agents": agents})
        ua = self.tables.user_agents
        c.execute(
            ua.delete().where(
                ua.c.tenant == e.tenant, ua.c.user_sourced_id == sourced_id, ua.c.agent == guardian
            )
        )

    # -- helpers -------------------------------------------------------------------------

    def _user(self, c: Connection, e: EventEnvelope) -> tuple[str, list[dict[str, Any]], list[str]]:
        """The user's sourcedId, roles and agents: of the batch's held row first (a user
        registered in the batch); a change of these columns is never held, so the row
        otherwise has them."""
        u = self.tables.users
        writes = writes_held(c)
        held = None if writes is None else writes.created_record(u, e.tenant, str(e.aggregate_id))
        if held is not None:
            return str(held["sourced_id"]), list(held["roles"]), list(held["agents"])
        row = c.execute(
            sa.select(u.c.sourced_id, u.c.roles, u.c.agents).where(
                u.c.tenant == e.tenant, u.c.aggregate_id == str(e.aggregate_id)
            )
        ).first()
        if row is None:
            raise record_not_projected(u, e)
        return str(row[0]), list(row[1]), list(row[2])

    def _write_class_terms(
        self, c: Connection, tenant: str, class_id: str, terms: Sequence[str]
    ) -> None:
        insert_rows(
            c,
            self.tables.class_terms,
            [
                {"tenant": tenant, "class_sourced_id": class_id, "term": term}
                for term in dict.fromkeys(terms)
            ],
        )

    def _write_user_role(self, c: Connection, tenant: str, user: str, role: dict[str, Any]) -> None:
        insert_rows(
            c,
            self.tables.user_roles,
            [
                {
                    "tenant": tenant,
                    "user_sourced_id": user,
                    "role": role["role"],
                    "org": role["org"],
                    "role_type": role["roleType"],
                    "begin_date": _date_or_none(role["beginDate"]),
                    "end_date": _date_or_none(role["endDate"]),
                }
            ],
        )

    def _delete_user_role(self, c: Connection, tenant: str, user: str, role: str, org: str) -> None:
        ur = self.tables.user_roles
        c.execute(
            ur.delete().where(
                ur.c.tenant == tenant,
                ur.c.user_sourced_id == user,
                ur.c.role == role,
                ur.c.org == org,
            )
        )


def _role(avro: Mapping[str, Any]) -> dict[str, Any]:
    """A OneRoster role (JSON names) from the Avro Role record."""
    return {
        "roleType": avro["role_type"],
        "role": avro["role"],
        "org": avro["org"],
        "beginDate": _iso_or_none(avro.get("begin_date")),
        "endDate": _iso_or_none(avro.get("end_date")),
    }


def _iso_or_none(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date_or_none(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)
