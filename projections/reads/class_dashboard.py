"""The class dashboard read: a class's students × objectives for a teacher of the class.

GET /api/v1/dashboards/classes/{classSourcedId} and the teacher's pages both read through
`ClassDashboardReads`, so both refuse and show exactly the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.application import TenantApplication
from domain.commands import Actor
from projections.class_dashboard import ClassDashboardProjection
from projections.class_dashboard_queries import (
    ClassDashboard,
    TaughtClass,
    read_class_dashboard,
    taught_classes,
    teaches,
)
from projections.reads.access import ReadNotPermittedError, read_connection, require_role
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
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of the class's dashboard as JSON, names unsealed, recorded as disclosed.

        Refused (ReadNotPermittedError) unless `actor` teaches the class today; an unknown
        `subject` raises UnknownSubjectError, an unknown `term` UnknownTermError.
        """
        require_role(actor, ("teacher",), NOT_YOUR_CLASS)
        now = self.clock()
        if subject is not None:
            app.curriculum.subject(subject)
        with read_connection(self.engine) as connection:
            if not teaches(
                connection,
                self.projection,
                tenant=actor.tenant,
                teacher=actor.subject,
                class_id=class_id,
                today=now.date(),
            ):
                raise ReadNotPermittedError(NOT_YOUR_CLASS)
            dashboard = read_class_dashboard(
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

    def term_titles(self, actor: Actor, terms: Iterable[str]) -> dict[str, str]:
        """The titles of the academic sessions among `terms` (a class's terms, for the term
        menu); a term the read model does not know is left out."""
        require_role(actor, ("teacher",), NOT_YOUR_CLASS)
        with read_connection(self.engine) as connection:
            rows = records_by_sourced_id(
                connection,
                self.projection.sessions.table,
                "title",
                tenant=actor.tenant,
                ids=sorted(set(terms)),
            )
        return {sourced_id: str(row.title) for sourced_id, row in rows.items()}

    def taught_classes(self, actor: Actor) -> list[TaughtClass]:
        """The classes `actor` teaches today, by title: those whose dashboard they may read."""
        require_role(actor, ("teacher",), "only a teacher has classes to list")
        with read_connection(self.engine) as connection:
            return taught_classes(
                connection,
                self.projection,
                tenant=actor.tenant,
                teacher=actor.subject,
                today=self.clock().date(),
            )


def dashboard_json(dashboard: ClassDashboard, unsealer: Unsealer) -> dict[str, Any]:
    """The JSON of a dashboard page; names opened with `unsealer` ("erased" when erased)."""
    d = dashboard
    unsealer.prefetch(s.personal for s in d.students)
    names = {s.sourced_id: unsealer.name(s.personal) for s in d.students}
    return {
        "class": {
            "sourcedId": d.sourced_id,
            "title": d.title,
            "classCode": d.class_code,
            "course": d.course,
            "school": d.school,
            "subjectCodes": d.subject_codes,
            "grades": d.grades,
            "terms": d.terms,
        },
        "filters": {
            "term": None
            if d.term is None
            else {
                "sourcedId": d.term.sourced_id,
                "title": d.term.title,
                "startDate": d.term.start_date.isoformat(),
                "endDate": d.term.end_date.isoformat(),
            },
            "subject": d.subject,
        },
        "page": {"limit": d.limit, "offset": d.offset, "total": d.total_students},
        "objectives": [
            {
                "code": o.code,
                "subject": o.subject,
                "titles": {"fi": o.title_fi, "en": o.title_en},
                "assessed": o.assessed,
            }
            for o in d.objectives
        ],
        "unassessedObjectives": [o.code for o in d.unassessed_objectives],
        "lineItems": [
            {
                "sourcedId": i.sourced_id,
                "title": i.title,
                "category": i.category,
                "assignDate": i.assign_date.isoformat(),
                "dueDate": i.due_date.isoformat(),
                "objectives": i.objectives,
                "resultValueMin": i.result_min,
                "resultValueMax": i.result_max,
                "results": i.results,
                "scoreStatuses": i.score_statuses,
                "scores": i.scores.as_dict(),
                "grades": i.grades.as_dict(),
            }
            for i in d.line_items
        ],
        "students": [
            {
                "sourcedId": s.sourced_id,
                "name": names[s.sourced_id],
                # Cells and trend points come JSON-shaped from the read model.
                "attainments": s.attainments,
                "results": s.results,
                "trend": {"attainments": s.level_trend, "grades": s.grade_trend},
            }
            for s in d.students
        ],
        "lateWork": [
            {
                "student": s.sourced_id,
                "name": names[s.sourced_id],
                "lineItems": [
                    {
                        "sourcedId": item.sourced_id,
                        "title": item.title,
                        "dueDate": item.due_date.isoformat(),
                        "assessedAt": s.results[item.sourced_id]["assessedAt"],
                    }
                    for item in s.late
                ],
            }
            for s in d.students
            if s.late
        ],
        "missingWork": [
            {
                "student": s.sourced_id,
                "name": names[s.sourced_id],
                "lineItems": [
                    {
                        "sourcedId": m.line_item,
                        "title": m.title,
                        "dueDate": m.due_date.isoformat(),
                        "reason": m.reason,
                    }
                    for m in s.missing
                ],
            }
            for s in d.students
            if s.missing
        ],
    }
