"""The class dashboard read: a class's students × objectives for a teacher of the class.

GET /api/v1/dashboards/classes/{classSourcedId} and the teacher's pages both read through
`ClassDashboardReads`, so both refuse and show exactly the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from domain.application import TenantApplication
from domain.commands import Actor
from projections.class_dashboard import ClassDashboardProjection
from projections.class_dashboard_pages import (
    DEFAULT_LIMIT,
    StoredPage,
    is_default_page,
    teachers_page,
)
from projections.class_dashboard_pages import dashboard_json as page_json
from projections.class_dashboard_queries import (
    ClassDashboard,
    TaughtClass,
    read_class_dashboard,
    taught_classes,
    teaches,
)
from projections.reads.access import ReadNotPermittedError, read_retried, require_role
from projections.reads.disclosures import STATUTORY_TASK
from projections.reads.read_service import ReadService
from projections.reads.unsealing import Unsealer
from projections.record_queries import records_by_sourced_id

__all__ = ["NOT_YOUR_CLASS", "ClassDashboardReads", "dashboard_json"]

#: The refusal of a dashboard: the same whether the class is not the caller's or not there.
NOT_YOUR_CLASS = "a class dashboard is shown only to a teacher of the class"
#: What a dashboard page discloses of each student on it (projections/reads/disclosures.py).
DISCLOSED = ("identity", "roster", "assessment", "attainment")


class ClassDashboardReads(ReadService[ClassDashboardProjection]):
    """Reads of the class dashboard read model for teachers."""

    def dashboard(
        self,
        app: TenantApplication,
        actor: Actor,
        class_id: str,
        *,
        term: str | None = None,
        subject: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of the class's dashboard as JSON, names unsealed, recorded as disclosed.

        Refused (ReadNotPermittedError) unless `actor` teaches the class today; an unknown
        `subject` raises UnknownSubjectError, an unknown `term` UnknownTermError.
        """
        now = self._teachers_now(actor)
        if subject is not None:
            app.curriculum.subject(subject)

        def read(connection: Connection) -> ClassDashboard | None:
            self._refuse_unless(
                teaches(
                    connection,
                    self.projection,
                    tenant=actor.tenant,
                    teacher=actor.subject,
                    class_id=class_id,
                    today=now.date(),
                )
            )
            return read_class_dashboard(
                connection,
                self.projection,
                tenant=actor.tenant,
                class_id=class_id,
                now=now,
                curriculum=app.curriculum,
                term=term,
                subject=subject,
                limit=limit,
                offset=offset,
            )

        dashboard = read_retried(self.engine, read)
        if dashboard is None:
            raise ReadNotPermittedError(NOT_YOUR_CLASS)
        answer = dashboard_json(dashboard, Unsealer(app.sealer))
        self.disclose(
            actor,
            subjects=[s.sourced_id for s in dashboard.students],
            categories=DISCLOSED,
            basis=STATUTORY_TASK,
            at=now,
        )
        return answer

    def dashboard_document(
        self,
        app: TenantApplication,
        actor: Actor,
        class_id: str,
        *,
        term: str | None = None,
        subject: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> bytes:
        """`dashboard` as the JSON bytes it answers. The default page comes from the page
        the projection stored (projections/class_dashboard_pages.py) while it holds: one
        query for the page and the teacher check together, then the names unsealed into
        its slots and the disclosure recorded, exactly as the live read does (and refused
        exactly as it refuses); any other page is read live."""
        if not is_default_page(term=term, subject=subject, limit=limit, offset=offset):
            return orjson.dumps(
                self.dashboard(
                    app, actor, class_id, term=term, subject=subject, limit=limit, offset=offset
                )
            )
        now = self._teachers_now(actor)
        stored = read_retried(
            self.engine,
            lambda connection: teachers_page(
                connection,
                self.projection,
                tenant=actor.tenant,
                class_id=class_id,
                teacher=actor.subject,
                today=now.date(),
            ),
        )
        if stored is None:
            return orjson.dumps(self.dashboard(app, actor, class_id))
        teaches_class, page = stored
        self._refuse_unless(teaches_class)
        if not page.holds(now):
            return orjson.dumps(self.dashboard(app, actor, class_id))
        return self._stored_answer(app, actor, page, now)

    def _teachers_now(self, actor: Actor) -> datetime:
        """The instant of a dashboard read, once the caller is a teacher: the one role
        check of the live and the stored read (ReadNotPermittedError for anyone else)."""
        require_role(actor, ("teacher",), NOT_YOUR_CLASS)
        return self.clock()

    @staticmethod
    def _refuse_unless(teaches_class: bool) -> None:
        """The one refusal of both reads when the caller does not teach the class today
        (the same as when the class is not there: it tells nothing about others)."""
        if not teaches_class:
            raise ReadNotPermittedError(NOT_YOUR_CLASS)

    def _stored_answer(
        self, app: TenantApplication, actor: Actor, page: StoredPage, now: datetime
    ) -> bytes:
        unsealer = Unsealer(app.sealer)
        unsealer.prefetch(page.sealed)
        names = {student: unsealer.name(personal) for student, personal in page.slots}
        body = page.body(names)
        self.disclose(
            actor, subjects=page.subjects, categories=DISCLOSED, basis=STATUTORY_TASK, at=now
        )
        return body

    def term_titles(self, actor: Actor, terms: Iterable[str]) -> dict[str, str]:
        """The titles of the academic sessions among `terms` (a class's terms, for the term
        menu); a term the read model does not know is left out."""
        require_role(actor, ("teacher",), NOT_YOUR_CLASS)
        wanted = sorted(set(terms))
        rows = read_retried(
            self.engine,
            lambda connection: records_by_sourced_id(
                connection,
                self.projection.sessions.table,
                "title",
                tenant=actor.tenant,
                ids=wanted,
            ),
        )
        return {sourced_id: str(row.title) for sourced_id, row in rows.items()}

    def taught_classes(self, actor: Actor) -> list[TaughtClass]:
        """The classes `actor` teaches today, by title: those whose dashboard they may read."""
        require_role(actor, ("teacher",), "only a teacher has classes to list")
        today = self.clock().date()
        return read_retried(
            self.engine,
            lambda connection: taught_classes(
                connection, self.projection, tenant=actor.tenant, teacher=actor.subject, today=today
            ),
        )


def dashboard_json(dashboard: ClassDashboard, unsealer: Unsealer) -> dict[str, Any]:
    """The JSON of a dashboard page; names opened with `unsealer` ("erased" when erased)."""
    d = dashboard
    unsealer.prefetch(s.personal for s in d.students)
    return page_json(d, {s.sourced_id: unsealer.name(s.personal) for s in d.students})
