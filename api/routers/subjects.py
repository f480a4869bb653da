"""The right of access (GDPR art. 15): a data subject's export of everything held about them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ActorDep, ContainerDep, TenantAppDep
from api.disclosures import ALL, RIGHT_OF_ACCESS, STATUTORY_TASK
from api.models import Problem
from api.problems import ProblemError
from api.routers.roster import SourcedIdPath
from api.routers.roster_reads import MinPosition, wait_until_fresh
from api.subject_export import subject_export
from domain.application import TenantApplication
from domain.commands import Actor
from domain.consent import AGE_OF_MAJORITY
from domain.roster import User
from projections.catalogue import all_projections
from projections.subject_index import SubjectIndexProjection

router = APIRouter(prefix="/api/v1/subjects", tags=["privacy"])

_INDEX = next(p for p in all_projections() if isinstance(p, SubjectIndexProjection))

#: From this age a pupil may have the export of their own data without a guardian
#: (the age issue 4 settled on); guardians act for their child until AGE_OF_MAJORITY.
SELF_ACCESS_AGE = 15

_REFUSED = (
    "a person's export is for that person (from age 15), their guardian (while they are "
    "under 18) and admins"
)


@router.get(
    "/{sourcedId}/export",
    responses={
        403: {"model": Problem, "description": "The caller has no right of access to this person"},
        404: {"model": Problem, "description": "No such person in the caller's tenant (admins)"},
        504: {"model": Problem, "description": "The read model did not reach min_position"},
    },
    summary="Everything held about a person, opened (student 15+, guardian, admin)",
    description="The user record, demographics, enrollments, results with verbal "
    "assessments, attainments, consents and erasures, each with its events in order and "
    "sealed fields opened (\"erased\" where erasure destroyed the key), and the record of "
    "who received which of the person's data, when and on what basis.",
)
def export_subject(
    sourcedId: SourcedIdPath,
    actor: ActorDep,
    app: TenantAppDep,
    container: ContainerDep,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    basis = _right_of_access(actor, app, sourcedId)
    wait_until_fresh(container, actor.tenant, _INDEX.name, min_position)
    document = subject_export(app, container.engine, _INDEX, sourcedId)
    container.disclosures.record(
        tenant=actor.tenant, subjects=[sourcedId], recipient=actor.subject,
        recipient_role=actor.role, categories=[ALL], basis=basis, at=container.clock(),
    )
    return document


def _right_of_access(actor: Actor, app: TenantApplication, subject: str) -> str:
    """The basis on which the caller may have the subject's export; refuses everyone else.

    A refusal says the same whether or not the person exists, so it discloses nothing.
    """
    if actor.role == "admin":
        app.user(subject)  # an admin is told when there is no such person (404)
        return STATUTORY_TASK
    if actor.role == "student" and actor.subject == subject:
        age = app.age(subject)
        if age is not None and age >= SELF_ACCESS_AGE:
            return RIGHT_OF_ACCESS
    if actor.role == "guardian":
        child = app.find("users", subject)
        if isinstance(child, User) and actor.subject in child.guardians:
            age = app.age(subject)
            # As for consents: with the birth date unknown the guardian still acts.
            if age is None or age < AGE_OF_MAJORITY:
                return RIGHT_OF_ACCESS
    raise ProblemError(403, "not-permitted", "Not permitted", _REFUSED)
