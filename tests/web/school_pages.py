"""The school the page tests work in, and what they do on its pages: sign in, grant a consent."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.agreement_commands import ServiceDescription
from domain.agreements import CONSENT
from domain.commands import Actor
from tests.builders import School, a_school
from tests.reads.school import a_line_item, an_assessment_of, an_attainment_of
from tests.web.pages import fresh, post_form, sign_in, token_of

CLASS_PAGE = "/ui/teacher/classes/cls-4a"
CHILD_PAGE = "/ui/guardian/children/stu-1"
#: The service registered on consent that the guardian pages offer.
SERVICE = "matikka-app"
SERVICE_TITLE = "Matikka-appi"


def a_school_with_results(running: TestClient, container: Container, tenant: str) -> School:
    """a_school, with stu-1 (guardian grd-1) assessed in 4A on li-1 with verbal feedback."""
    built = a_school(running, container, tenant)
    a_line_item(running, built, "li-1", title="Murtoluvut")
    an_assessment_of(
        running,
        built,
        sourcedId="res-1",
        lineItem="li-1",
        score=17,
        grade="9",
        comment="Hyvää työtä murtoluvuissa.",
    )
    an_attainment_of(running, built, "stu-1", "MA.3-6.T5", 2, "2026-01-12", "li-1")
    an_attainment_of(running, built, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    an_assessment_of(
        running, built, student="stu-2", lineItem="li-1", score=9, comment="Eeron oma palaute"
    )
    a_consent_service(container, tenant)
    return built


def a_consent_service(container: Container, tenant: str, name: str = SERVICE) -> None:
    """A service registered on the families' consent, reading rosters and gradebooks."""
    app = container.tenants.get(tenant)
    if app.agreement(app.client_id_of(name)) is not None:
        return
    app.make_agreement(
        Actor(tenant, "admin", "test-admin"),
        service=name,
        scopes=["roster-core.readonly", "gradebook.readonly"],
        categories=["identity"],
        basis=CONSENT,
        schools=[],
        purpose="learning-app",
        description=ServiceDescription(
            title=SERVICE_TITLE,
            descriptions={"fi": "Harjoitussovellus.", "en": "A practice app."},
            purposes=["learning-app"],
        ),
    )


def sign_in_as(
    client: TestClient, container: Container, tenant: str, role: str, subject: str
) -> None:
    sign_in(client, token_of(container, tenant, role, subject))


def grant_on_page(
    client: TestClient, container: Container, tenant: str, **fields: str | list[str]
) -> str:
    """Grants a consent through the page's form; returns the redirect's location."""
    page = fresh(client, container, tenant, CHILD_PAGE)
    answer = post_form(
        client,
        page,
        f"{CHILD_PAGE}/consents",
        {
            "recipient": SERVICE,
            "categories": ["assessment", "roster"],
            **fields,
        },
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]
