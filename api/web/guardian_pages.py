"""The guardian's pages: their children, and a child's classes, results, attainments and
consents, with forms to grant and withdraw a consent.

The pages read through the same read service as GET /api/v1/guardians/me/children…
(projections/reads/guardian_view.py), and the forms run the same consent commands as the
API (api/consent_commands.py), so a page allows, refuses and records exactly what the API
does. After a form, the page redirects (POST-redirect-GET) with `?min_position=N` and
waits, as a read of the API does, until the view includes the change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from api import consent_commands
from api.deps import GuardianViewReadsDep
from api.models import ConsentIn
from api.web.rendering import FreshPage, Page, PageDep, PageRoute, freshness, render
from api.web.session import Form, FormDep, SignedIn, SignedInDep
from domain.consent import DATA_CATEGORIES
from domain.curriculum import Curriculum
from domain.errors import ConsentNotAllowedError, DomainError
from projections.catalogue import ProjectionCatalogue
from projections.guardian_view import GuardianViewProjection
from projections.reads.access import ReadNotPermittedError, require_role
from projections.reads.consent_services import ConsentServiceReads, OfferedService
from projections.reads.guardian_view import (
    NOT_YOUR_CHILD,
    GuardianViewReads,
    require_consent_of_child,
)
from projections.reads.subject_export import right_of_access

router = APIRouter(prefix="/ui/guardian", route_class=PageRoute)

StudentId = Annotated[str, Path(max_length=128)]
#: The order categories are offered in on the form.
CATEGORIES = sorted(
    DATA_CATEGORIES,
    key=[
        "roster",
        "assessment",
        "attainment",
        "identity",
        "contact",
        "demographics",
        "photos",
    ].index,
)
NOTICES = {"granted": "notice_granted", "withdrawn": "notice_withdrawn"}
_SERVICES = ConsentServiceReads()


def _views(projections: ProjectionCatalogue) -> GuardianViewProjection:
    return projections.guardian_view


#: Read-your-writes of the pages, for those they answer (a student is sent from the list of
#: children to their own page, anyone else refused, without waiting).
FreshChildren = Annotated[None, Depends(FreshPage(_views, roles=("guardian",)))]
FreshChild = Annotated[None, Depends(FreshPage(_views, roles=("guardian", "student")))]


def _require_family(who: SignedIn) -> None:
    require_role(who.actor, ("guardian", "student"), NOT_YOUR_CHILD)


@router.get("")
def my_children(
    page: PageDep, who: SignedInDep, reads: GuardianViewReadsDep, _fresh: FreshChildren
) -> Response:
    if who.actor.role == "student":
        return RedirectResponse(f"/ui/guardian/children/{who.actor.subject}", status_code=303)
    listing = reads.children(who.app, who.actor)
    return render(
        page,
        "guardian_children.html",
        who=who.actor,
        children=listing["children"],
        freshness=freshness(page.container, who.actor, _views),
    )


@router.get("/children/{student_id}")
def child_page(
    student_id: StudentId,
    page: PageDep,
    who: SignedInDep,
    reads: GuardianViewReadsDep,
    _fresh: FreshChild,
    notice: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    return _child(page, who, reads, student_id, ConsentForm(), notice=NOTICES.get(notice or ""))


@router.post("/children/{student_id}/consents")
def grant_consent(
    student_id: StudentId,
    page: PageDep,
    who: SignedInDep,
    reads: GuardianViewReadsDep,
    form: FormDep,
) -> Response:
    _require_family(who)
    offered = {s.service: s for s in _SERVICES.offered(who.app, who.actor)}
    entered = ConsentForm.read(form, offered=offered, today=page.container.clock().date())
    if not entered.errors:
        try:
            answer = consent_commands.grant_consent(
                who.app,
                who.actor,
                entered.body(
                    student=student_id,
                    granted_by=who.actor.subject,
                    service=offered[entered.recipient],
                ),
                idempotency_key=entered.form_key,
            )
            return _after_command(student_id, answer.body, "granted")
        except ValidationError:
            entered.errors["form"] = "form_problem_retry"
        except ConsentNotAllowedError:
            # Shown only after the read below has found the child to be the caller's.
            entered.errors["form"] = "consent_not_allowed"
        except DomainError as error:
            field = _FIELDS.get(error.field or "", "form")
            entered.errors[field] = _FIELD_REFUSALS.get(field, "form_problem_retry")
    return _child(page, who, reads, student_id, entered, status=422)


@router.post("/children/{student_id}/consents/{consent_id}/withdraw")
def withdraw_consent(
    student_id: StudentId,
    consent_id: Annotated[str, Path(max_length=64)],
    who: SignedInDep,
    form: FormDep,
) -> Response:
    require_consent_of_child(who.app, who.actor, student=student_id, consent_id=consent_id)
    answer = consent_commands.revoke_consent(who.app, who.actor, consent_id, idempotency_key=None)
    return _after_command(student_id, answer.body, "withdrawn")


def _after_command(student_id: str, body: bytes | memoryview, notice: str) -> Response:
    """POST-redirect-GET to the child's page, which waits until it shows the change."""
    position = int(json.loads(bytes(body))["position"])
    return RedirectResponse(
        f"/ui/guardian/children/{student_id}?min_position={position}&notice={notice}#consents",
        status_code=303,
    )


def _child(
    page: Page,
    who: SignedIn,
    reads: GuardianViewReads,
    student_id: str,
    form: ConsentForm,
    *,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    view = reads.child_view(who.app, who.actor, student_id)
    offered = _SERVICES.offered(who.app, who.actor)
    known = _SERVICES.known(who.app, who.actor)
    return render(
        page,
        "child.html",
        status=status,
        who=who.actor,
        v=view,
        form=form,
        notice=notice,
        categories=CATEGORIES,
        offered=offered,
        grade_names=grade_names(who.app.curriculum, page.lang),
        access=_has_access(who, student_id),
        services={**known, **{s.service: s for s in offered}},
        freshness=freshness(page.container, who.actor, _views),
        form_key=uuid.uuid4().hex,
    )


def _has_access(who: SignedIn, student_id: str) -> bool:
    """Whether the caller may read the student's export (a student from 15, a guardian)."""
    try:
        right_of_access(who.actor, who.app, student_id)
    except ReadNotPermittedError:
        return False
    return True


def grade_names(curriculum: Curriculum, lang: str) -> dict[str, str]:
    """Each grade's meaning on the Finnish scale in `lang` ("9" → "kiitettävä")."""
    names = {g: curriculum.grade_name(g, lang) for g in curriculum.grades()}
    return {g: name for g, name in names.items() if name}


# -- the consent form ----------------------------------------------------------------------

#: Command fields (as domain errors name them) → the form field to show the error at.
_FIELDS = {
    "recipient": "recipient",
    "categories": "categories",
    "validUntil": "valid_until",
    "valid_until": "valid_until",
}
#: What a refusal of the command says at each field, in the page's language.
_FIELD_REFUSALS = {
    "recipient": "choose_service",
    "categories": "choose_category",
    "valid_until": "date_in_past",
}
#: The form's fields in the order the page shows them (errors are listed in this order).
FIELD_ORDER = ("recipient", "categories", "valid_until", "form")


@dataclass
class ConsentForm:
    """What the guardian chose, and what is wrong with it (field → message key)."""

    recipient: str = ""
    categories: list[str] = field(default_factory=list)
    valid_until: str = ""
    form_key: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    #: Fields for the message of an error (field → format fields).
    error_fields: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, form: Form, *, offered: Mapping[str, OfferedService], today: date) -> ConsentForm:
        """The choices, every problem with them found (not only the first)."""
        entered = cls(
            recipient=form.one("recipient"),
            categories=[c for c in form.all("categories") if c in DATA_CATEGORIES],
            valid_until=form.one("valid_until"),
            form_key=form.one("form_key")[:64] or None,
        )
        service = offered.get(entered.recipient)
        if service is None:
            entered.errors["recipient"] = "choose_service"
        if not entered.categories:
            entered.errors["categories"] = "choose_category"
        elif service is not None and not set(entered.categories) <= set(service.categories):
            entered.errors["categories"] = "categories_not_received"
            entered.error_fields["categories"] = {"service": service.title}
        if entered.valid_until:
            try:
                if date.fromisoformat(entered.valid_until) < today:
                    entered.errors["valid_until"] = "date_in_past"
            except ValueError:
                entered.errors["valid_until"] = "invalid_date"
        entered.errors = {k: entered.errors[k] for k in FIELD_ORDER if k in entered.errors}
        return entered

    def body(self, *, student: str, granted_by: str, service: OfferedService) -> ConsentIn:
        """The command body, as POST /api/v1/consents takes it: the consent is given for
        the purposes the municipality registered for the service."""
        fields: dict[str, Any] = {
            "student": student,
            "grantedBy": granted_by,
            "recipient": service.service,
            "purposes": service.purposes,
            "categories": self.categories,
            "validUntil": date.fromisoformat(self.valid_until) if self.valid_until else None,
        }
        return ConsentIn(**fields)
