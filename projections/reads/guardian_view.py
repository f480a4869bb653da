"""The guardian view reads: a guardian's children, and a child's school records.

A guardian sees a child while the child's user record names them as an agent and the child
is under 18 (guardianship ends at majority; the birth date is sealed and opened here, at
read time). Either ending ends access at once. A student sees their own view.
GET /api/v1/guardians/me/children…, /api/v1/students/me and the guardian's pages all read
through `GuardianViewReads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from domain.application import TenantApplication
from domain.commands import Actor
from domain.consent import AGE_OF_MAJORITY, age_on
from projections.guardian_view import GuardianViewProjection
from projections.guardian_view_queries import (
    ChildView,
    birth_record,
    is_linked,
    linked_children,
    read_child_view,
)
from projections.reads.access import ReadNotPermittedError, read_connection, require_role
from projections.reads.disclosures import RIGHT_OF_ACCESS, STATUTORY_TASK
from projections.reads.plain_language import LEVEL_TEXTS, learner_titles, objective_titles
from projections.reads.read_service import ReadService
from projections.reads.unsealing import Unsealer

__all__ = [
    "NOT_A_GUARDIAN",
    "NOT_A_STUDENT",
    "NOT_YOUR_CHILD",
    "GuardianViewReads",
    "child_view_json",
    "require_consent_of_child",
]

#: The refusal of a child's view: the same whether the student is not the caller's or not there.
NOT_YOUR_CHILD = (
    "a child's view is shown only to the child's guardian (while under 18) or the child"
)
NOT_A_GUARDIAN = "only a guardian has children to list"
NOT_A_STUDENT = "only a student has a view of their own"
#: What a child's view discloses of the child (the teachers named in it: identity only).
DISCLOSED = ("identity", "roster", "assessment", "attainment")


class GuardianViewReads(ReadService[GuardianViewProjection]):
    """Reads of the guardian view read model for guardians and students."""

    def children(self, app: TenantApplication, actor: Actor) -> dict[str, Any]:
        """The guardian's children under 18, names unsealed, recorded as disclosed."""
        require_role(actor, ("guardian",), NOT_A_GUARDIAN)
        now = self.clock()
        unsealer = Unsealer(app.sealer)
        with read_connection(self.engine) as connection:
            children = linked_children(
                connection, self.projection, tenant=actor.tenant, guardian=actor.subject
            )
        minors = [child for child, born in children if _minor(unsealer, born, now.date())]
        self.disclose(
            actor,
            subjects=[c.sourced_id for c in minors],
            categories=["identity"],
            basis=STATUTORY_TASK,
            at=now,
        )
        return {
            "children": [
                {"sourcedId": child.sourced_id, "name": unsealer.name(child.personal)}
                for child in minors
            ]
        }

    def own_view(self, app: TenantApplication, actor: Actor) -> dict[str, Any]:
        """The calling student's own view, as their guardians see it."""
        require_role(actor, ("student",), NOT_A_STUDENT)
        return self.child_view(app, actor, actor.subject)

    def child_view(self, app: TenantApplication, actor: Actor, student: str) -> dict[str, Any]:
        """A child's view as JSON, recorded as disclosed; refused (ReadNotPermittedError)
        unless `actor` is the student or a guardian of the minor, the same whether or not
        the student exists, so it tells nothing about others."""
        require_role(actor, ("guardian", "student"), NOT_YOUR_CHILD)
        now = self.clock()
        unsealer = Unsealer(app.sealer)
        with read_connection(self.engine) as connection:
            if not self._may_see(connection, unsealer, actor, student, now.date()):
                raise ReadNotPermittedError(NOT_YOUR_CHILD)
            view = read_child_view(
                connection,
                self.projection,
                tenant=actor.tenant,
                student=student,
                today=now.date(),
            )
        if view is None:
            raise ReadNotPermittedError(NOT_YOUR_CHILD)
        answer = child_view_json(view, unsealer, app)
        teachers = {t.sourced_id for c in view.classes for t in c.teachers}
        teachers |= {r.assessor.sourced_id for r in view.results}
        own = RIGHT_OF_ACCESS if actor.subject == student else STATUTORY_TASK
        for subjects, categories, basis in (
            ([student], DISCLOSED, own),
            (sorted(teachers), ("identity",), STATUTORY_TASK),
        ):
            self.disclose(
                actor,
                subjects=subjects,
                categories=categories,
                basis=basis,
                at=now,
            )
        return answer

    def _may_see(
        self, connection: Connection, unsealer: Unsealer, actor: Actor, student: str, today: date
    ) -> bool:
        if actor.role == "student":
            return actor.subject == student
        if not is_linked(
            connection,
            self.projection,
            tenant=actor.tenant,
            guardian=actor.subject,
            student=student,
        ):
            return False
        born = birth_record(connection, self.projection, tenant=actor.tenant, student=student)
        return _minor(unsealer, born, today)


def require_consent_of_child(
    app: TenantApplication, actor: Actor, *, student: str, consent_id: str
) -> None:
    """Refuses (ReadNotPermittedError) a consent that is not `student`'s: a consent is
    withdrawn from its own child's page, never through another's address. NotFoundError
    when there is no such consent."""
    require_role(actor, ("guardian", "student"), NOT_YOUR_CHILD)
    if app.get_consent(consent_id).student != student:
        raise ReadNotPermittedError(NOT_YOUR_CHILD)


def _minor(unsealer: Unsealer, demographics: Mapping[str, Any] | None, today: date) -> bool:
    """Under 18, or of unknown age (no birth date recorded: the domain's rule for consents)."""
    born = unsealer.birth_date(demographics)
    return born is None or age_on(born, today) < AGE_OF_MAJORITY


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def child_view_json(view: ChildView, unsealer: Unsealer, app: TenantApplication) -> dict[str, Any]:
    """The JSON of a child's view; personal data opened with `unsealer`."""
    curriculum = app.curriculum
    return {
        "student": {
            "sourcedId": view.student.sourced_id,
            "name": unsealer.name(view.student.personal),
        },
        "classes": [
            {
                "sourcedId": c.sourced_id,
                "title": c.title,
                "course": {"sourcedId": c.course, "title": c.course_title},
                "subjectCodes": c.subject_codes,
                "teachers": [
                    {"sourcedId": t.sourced_id, "name": unsealer.name(t.personal)}
                    for t in c.teachers
                ],
            }
            for c in view.classes
        ],
        "results": [
            {
                "sourcedId": r.sourced_id,
                "class": {"sourcedId": r.class_sourced_id, "title": r.class_title},
                "lineItem": None
                if r.line_item is None
                else {
                    "sourcedId": r.line_item,
                    "title": r.line_item_title,
                    "category": r.category,
                    "dueDate": _iso(r.due_date),
                    "resultValueMax": r.result_max,
                },
                "score": r.score,
                "grade": r.grade,
                "scoreStatus": r.score_status,
                "late": r.late,
                "assessedAt": r.assessed_at.isoformat(),
                "objectives": [
                    {
                        "code": code,
                        "titles": objective_titles(curriculum, code),
                        "learnerTitles": learner_titles(curriculum, code),
                    }
                    for code in r.objectives
                ],
                "assessor": {
                    "sourcedId": r.assessor.sourced_id,
                    "name": unsealer.name(r.assessor.personal),
                },
                "comment": unsealer.text(r.comment, "comment"),
            }
            for r in view.results
        ],
        "attainments": [
            {
                "objective": {
                    "code": a.objective,
                    "subject": a.subject,
                    "titles": objective_titles(curriculum, a.objective),
                    "learnerTitles": learner_titles(curriculum, a.objective),
                },
                "class": {"sourcedId": a.class_sourced_id, "title": a.class_title},
                "level": a.level,
                "levelText": dict(LEVEL_TEXTS.get(a.level, {})),
                "assessedAt": a.assessed_at.isoformat(),
                "evidence": [{"sourcedId": code, "title": title} for code, title in a.evidence],
            }
            for a in view.attainments
        ],
        "consents": [
            {
                "consentId": c.consent_id,
                "recipient": c.recipient,
                "purposes": c.purposes,
                "categories": c.categories,
                "grantedBy": c.granted_by,
                "grantorRelation": c.grantor_relation,
                "grantedAt": c.granted_at.isoformat(),
                "validUntil": _iso(c.valid_until),
                "state": c.state,
                "revokedAt": _iso(c.revoked_at),
                "expiredOn": _iso(c.expired_on),
            }
            for c in view.consents
        ],
    }
