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
    SERVICE,
    SERVICE_TITLE,
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
    assert {"recipient", "categories", "valid_until"} <= names
    assert "purposes" not in names
    assert parts.unlabelled() == []


def test_granting_a_consent_redirects_to_the_child_page_which_shows_it(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    location = grant_on_page(running, container, tenant)
    page = running.get(location)

    assert location.startswith(f"{CHILD_PAGE}?min_position=")
    assert "Suostumus on annettu." in page.text
    assert SERVICE_TITLE in page.text and "voimassa" in page.text


def test_posting_the_same_consent_form_twice_grants_once(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, CHILD_PAGE)
    fields: dict[str, str | list[str]] = {
        "recipient": SERVICE,
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


def test_the_consent_form_offers_the_registered_services_with_what_they_receive(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, f"{CHILD_PAGE}?lang=sv")

    choices = [c.attrs.get("value") for c in parts_of(page.text).controls if c.type == "radio"]
    assert choices == [SERVICE]
    about = page.text.split(f'id="service-{SERVICE}-about"', 1)[1].split("</dl>")[0]
    # No Swedish description was registered: the Finnish one, marked as Finnish.
    assert '<p lang="fi">Harjoitussovellus.</p>' in about
    assert "användning av en lärapp i undervisningen" in about
    assert "klass- och gruppuppgifter, bedömningar, identitet" in about


def test_a_bad_consent_form_shows_every_error_beside_its_field_in_the_pages_language(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, f"{CHILD_PAGE}?lang=en")
    head = container.tenants.get(tenant).head_position()

    answer = post_form(
        running, page, f"{CHILD_PAGE}/consents", {"recipient": "", "valid_until": "2020-01-01"}
    )

    assert answer.status_code == 422
    errors = {c.id for c in parts_of(answer.text).controls if c.attrs.get("aria-invalid")}
    assert errors == {"valid_until"}  # the fieldsets are marked on the fieldset
    for field, message in (
        ("recipient", "Choose the service you give the consent to."),
        ("categories", "Choose at least one kind of data."),
        ("valid_until", "The date has passed."),
    ):
        assert f'<p class="error" id="{field}-error">{message}' in answer.text
    summary = answer.text.split('id="consent-errors"', 1)[1].split("</div>")[0]
    assert [a for a in ("#recipient", "#categories", "#valid_until") if a in summary] == [
        "#recipient",
        "#categories",
        "#valid_until",
    ]
    assert container.tenants.get(tenant).head_position() == head


def test_data_the_chosen_service_does_not_receive_is_refused_beside_the_data(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    page = fresh(running, container, tenant, CHILD_PAGE)

    answer = post_form(
        running, page, f"{CHILD_PAGE}/consents", {"recipient": SERVICE, "categories": ["photos"]}
    )

    assert answer.status_code == 422
    assert f"Palvelu {SERVICE_TITLE} ei saa kaikkia valitsemiasi tietoja." in answer.text


def test_a_consent_the_domain_refuses_is_explained_in_the_pages_language(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    # The student's birth date is not recorded, so they cannot consent for themself.
    sign_in_as(running, container, tenant, "student", "stu-1")
    page = fresh(running, container, tenant, f"{CHILD_PAGE}?lang=sv")

    answer = post_form(
        running, page, f"{CHILD_PAGE}/consents", {"recipient": SERVICE, "categories": ["roster"]}
    )

    assert answer.status_code == 422
    assert "Du kan inte ge det här samtycket." in answer.text
    assert "digital-consent age" not in answer.text


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    head = container.tenants.get(tenant).head_position()

    answer = running.post(
        f"{CHILD_PAGE}/consents",
        follow_redirects=False,
        data={"recipient": SERVICE, "categories": "roster"},
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
        {"recipient": SERVICE, "categories": ["roster"]},
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
