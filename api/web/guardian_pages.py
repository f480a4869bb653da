"""The guardian's pages: their children, and a child's classes, results, attainments and
consents, with forms to grant and withdraw a consent.

The view comes from `children_for` and `child_view_for`, the functions behind
GET /api/v1/guardians/me/children…; the forms call the consent commands' own route
functions (api/routers/consents.py), so a page allows, refuses and records exactly what
the API does. After a form, the page redirects (POST-redirect-GET) with `?min_position=N`
and waits, as a read of the API does, until the view includes the change.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from api.models import ConsentIn
from api.reading import not_permitted
from api.routers import consents
from api.routers.guardians import VIEW, child_view_for, children_for
from api.routers.roster_reads import MinPosition, wait_until_fresh
from api.web.rendering import Page, PageDep, PageRoute, freshness, render
from api.web.session import Form, FormDep, SignedIn, SignedInDep
from domain.consent import DATA_CATEGORIES
from domain.errors import DomainError

router = APIRouter(prefix="/ui/guardian", route_class=PageRoute)

StudentId = Annotated[str, Path(max_length=128)]
_NOT_YOURS = "a child's view is shown only to the child's guardian (while under 18) or the child"
#: The order categories are offered in on the form.
CATEGORIES = sorted(DATA_CATEGORIES, key=["roster", "assessment", "attainment", "identity",
                                          "contact", "demographics", "photos"].index)
NOTICES = {"granted": "notice_granted", "withdrawn": "notice_withdrawn"}


def _require_family(who: SignedIn) -> None:
    if who.actor.role not in ("guardian", "student"):
        raise not_permitted(_NOT_YOURS)


@router.get("")
def my_children(page: PageDep, who: SignedInDep, min_position: MinPosition = None) -> Response:
    if who.actor.role == "student":
        return RedirectResponse(f"/ui/guardian/children/{who.actor.subject}", status_code=303)
    if who.actor.role != "guardian":
        raise not_permitted("only a guardian has children to list")
    wait_until_fresh(page.container, who.actor.tenant, VIEW.name, min_position)
    listing = children_for(page.container, who.app, who.actor)
    return render(page, "guardian_children.html", who=who.actor, children=listing["children"],
                  freshness=freshness(page.container, who.actor, VIEW.name))


@router.get("/children/{student_id}")
def child_page(
    student_id: StudentId,
    page: PageDep,
    who: SignedInDep,
    min_position: MinPosition = None,
    notice: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    _require_family(who)
    wait_until_fresh(page.container, who.actor.tenant, VIEW.name, min_position)
    return _child(page, who, student_id, ConsentForm(), notice=NOTICES.get(notice or ""))


@router.post("/children/{student_id}/consents")
def grant_consent(student_id: StudentId, page: PageDep, who: SignedInDep, form: FormDep) \
        -> Response:
    _require_family(who)
    entered = ConsentForm.read(form)
    if not entered.errors:
        try:
            answer = consents.grant_consent(
                entered.body(student=student_id, granted_by=who.actor.subject),
                who.actor, who.app, idempotency_key=entered.form_key,
            )
            return _after_command(student_id, answer.body, "granted")
        except ValidationError:
            entered.errors["form"] = "form_problem"
        except DomainError as error:
            # Shown only after child_view_for below has found the child to be the caller's.
            entered.errors[_FIELDS.get(error.field or "", "form")] = "form_problem"
            entered.detail = error.message
    return _child(page, who, student_id, entered, status=422)


@router.post("/children/{student_id}/consents/{consent_id}/withdraw")
def withdraw_consent(
    student_id: StudentId,
    consent_id: Annotated[str, Path(max_length=64)],
    who: SignedInDep,
    form: FormDep,
) -> Response:
    _require_family(who)
    # A consent is withdrawn from its own child's page, never through another's address.
    if who.app.get_consent(consent_id).student != student_id:
        raise not_permitted(_NOT_YOURS)
    answer = consents.revoke_consent(consent_id, who.actor, who.app, idempotency_key=None)
    return _after_command(student_id, answer.body, "withdrawn")


def _after_command(student_id: str, body: bytes | memoryview, notice: str) -> Response:
    """POST-redirect-GET to the child's page, which waits until it shows the change."""
    position = int(json.loads(bytes(body))["position"])
    return RedirectResponse(
        f"/ui/guardian/children/{student_id}?min_position={position}&notice={notice}#consents",
        status_code=303,
    )


def _child(page: Page, who: SignedIn, student_id: str, form: ConsentForm, *,
           notice: str | None = None, status: int = 200) -> Response:
    view = child_view_for(page.container, who.app, who.actor, student_id)
    return render(
        page, "child.html", status=status, who=who.actor, v=view, form=form, notice=notice,
        categories=CATEGORIES, freshness=freshness(page.container, who.actor, VIEW.name),
        form_key=uuid.uuid4().hex,
    )


# -- the consent form ----------------------------------------------------------------------

#: Command fields (as domain errors name them) → the form field to show the error at.
_FIELDS = {"recipient": "recipient", "purposes": "purposes", "categories": "categories",
           "validUntil": "valid_until", "valid_until": "valid_until"}


@dataclass
class ConsentForm:
    """What the guardian entered, and what is wrong with it (field → message key)."""

    recipient: str = ""
    purposes: str = ""
    categories: list[str] = field(default_factory=list)
    valid_until: str = ""
    form_key: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    #: The domain's own explanation of a refusal (English; safe to show by contract).
    detail: str | None = None

    @classmethod
    def read(cls, form: Form) -> ConsentForm:
        entered = cls(
            recipient=form.one("recipient"),
            purposes=form.one("purposes"),
            categories=[c for c in form.all("categories") if c in DATA_CATEGORIES],
            valid_until=form.one("valid_until"),
            form_key=form.one("form_key")[:64] or None,
        )
        if not entered.recipient:
            entered.errors["recipient"] = "field_required"
        if not entered.purpose_list():
            entered.errors["purposes"] = "field_required"
        if not entered.categories:
            entered.errors["categories"] = "choose_category"
        if entered.valid_until:
            try:
                date.fromisoformat(entered.valid_until)
            except ValueError:
                entered.errors["valid_until"] = "invalid_date"
        return entered

    def purpose_list(self) -> list[str]:
        return [p.strip() for p in self.purposes.split(",") if p.strip()]

    def body(self, *, student: str, granted_by: str) -> ConsentIn:
        """The command body, as POST /api/v1/consents takes it."""
        fields: dict[str, Any] = {
            "student": student, "grantedBy": granted_by, "recipient": self.recipient,
            "purposes": self.purpose_list(), "categories": self.categories,
            "validUntil": date.fromisoformat(self.valid_until) if self.valid_until else None,
        }
        return ConsentIn(**fields)
