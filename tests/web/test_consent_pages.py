"""The consent form on a child's page: labels, grant and withdraw, errors shown again, refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import School
from tests.web.pages import (
    fresh,
    parts_of,
    post_form,
)
from tests.web.school_pages import (
    CHILD_PAGE,
    grant_on_page,
    sign_in_as,
)


def test_every_field_of_the_consent_form_has_a_label(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, CHILD_PAGE)

    parts = parts_of(page.text)
    names = {c.attrs.get("name") for c in parts.controls}
    assert {"recipient", "purposes", "categories", "valid_until"} <= names
    assert parts.unlabelled() == []


def test_granting_a_consent_redirects_to_the_child_page_which_shows_it(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    location = grant_on_page(running, container, tenant)
    page = running.get(location)

    assert location.startswith(f"{CHILD_PAGE}?min_position=")
    assert "Suostumus on annettu." in page.text
    assert "matikka-app" in page.text and "voimassa" in page.text


def test_posting_the_same_consent_form_twice_grants_once(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, CHILD_PAGE)
    fields: dict[str, str | list[str]] = {
        "recipient": "matikka-app",
        "purposes": "learning-app",
        "categories": ["assessment"],
    }

    first = post_form(running, page, f"{CHILD_PAGE}/consents", fields)
    second = post_form(running, page, f"{CHILD_PAGE}/consents", fields)
    shown = running.get(second.headers["location"])

    assert first.headers["location"] == second.headers["location"]
    assert shown.text.count("Peru suostumus<span") == 1


def test_withdrawing_a_consent_redirects_to_the_child_page_which_shows_it_withdrawn(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    granted = running.get(grant_on_page(running, container, tenant))
    action = next(
        f["action"] for f in parts_of(granted.text).forms if f["action"].endswith("/withdraw")
    )

    answer = post_form(running, granted, action, {})
    page = running.get(answer.headers["location"])

    assert answer.status_code == 303
    assert "Suostumus on peruttu." in page.text and "peruttu" in page.text
    assert "Peru suostumus<span" not in page.text


def test_a_consent_form_with_missing_fields_is_shown_again_with_the_errors(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, CHILD_PAGE)

    answer = post_form(
        running, page, f"{CHILD_PAGE}/consents", {"recipient": "", "purposes": "learning-app"}
    )

    assert answer.status_code == 422
    assert 'id="recipient"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "Valitse vähintään yksi tieto." in answer.text


def test_a_consent_the_domain_refuses_is_shown_again_with_its_reason(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, CHILD_PAGE)

    answer = post_form(
        running,
        page,
        f"{CHILD_PAGE}/consents",
        {"recipient": "Not A Service", "purposes": "learning-app", "categories": ["roster"]},
    )

    assert answer.status_code == 422
    assert "recipient must be a service id" in answer.text


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    head = container.tenants.get(tenant).head_position()

    answer = running.post(
        f"{CHILD_PAGE}/consents",
        follow_redirects=False,
        data={"recipient": "matikka-app", "purposes": "learning-app", "categories": "roster"},
    )

    assert answer.status_code == 403
    assert "Lomake on vanhentunut" in answer.text
    assert container.tenants.get(tenant).head_position() == head


def test_a_guardian_cannot_grant_a_consent_for_another_child(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, CHILD_PAGE)
    head = container.tenants.get(tenant).head_position()

    answer = post_form(
        running,
        page,
        "/ui/guardian/children/stu-2/consents",
        {"recipient": "matikka-app", "purposes": "learning-app", "categories": ["roster"]},
    )

    assert answer.status_code == 403
    assert "Eero" not in answer.text
    assert container.tenants.get(tenant).head_position() == head


def test_a_guardian_cannot_withdraw_a_consent_through_another_childs_page(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    granted = running.get(grant_on_page(running, container, tenant))
    action = next(
        f["action"] for f in parts_of(granted.text).forms if f["action"].endswith("/withdraw")
    )
    head = container.tenants.get(tenant).head_position()

    answer = post_form(running, granted, action.replace("/stu-1/", "/stu-2/"), {})

    assert answer.status_code == 403
    assert container.tenants.get(tenant).head_position() == head
