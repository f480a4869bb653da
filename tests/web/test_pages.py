"""The web pages over plain HTTP: sign-in, refusals, languages, forms, freshness."""

# ruff: noqa: F811 - the tests take the shared-runtime fixtures imported below as arguments

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.commands import Actor
from tests.builders import School
from tests.reads.shared_runtime import (  # noqa: F401 - the fixtures of this module's tests
    SharedRuntime,
    clock,
    container,
    reads_only,
    running,
    shared_runtime,
    tenant,
)
from tests.web.pages import (
    fresh,
    parts_of,
    post_form,
    refusal_leaks_nothing,
    sign_in,
    token_of,
)
from tests.web.school_pages import (
    CHILD_PAGE,
    CLASS_PAGE,
    a_school_with_results,
    sign_in_as,
)


@pytest.fixture(scope="module")
def backend() -> str:
    """SQLite only (see tests/web/conftest.py), for the runtime the module's tests share."""
    return "sqlite"


@pytest.fixture
def school(
    running: TestClient, container: Container, tenant: str, shared_runtime: SharedRuntime
) -> School:
    """The school of tests/web/conftest.py, seeded once for the `reads_only` tests."""
    return shared_runtime.school_of(
        tenant, lambda: a_school_with_results(running, container, tenant)
    )


# -- signing in ----------------------------------------------------------------------------


@reads_only
def test_a_page_without_a_session_redirects_to_sign_in_and_back(running: TestClient) -> None:
    response = running.get(CLASS_PAGE, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fteacher%2Fclasses%2Fcls-4a"


@reads_only
def test_signing_in_keeps_the_token_in_an_httponly_strict_cookie_of_the_pages(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = sign_in(running, token_of(container, tenant, "teacher", "tch-1"))

    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("digione_session=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert response.headers["location"] == "/ui/teacher"


@reads_only
def test_sign_in_returns_to_the_page_asked_for(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    login = running.get(CLASS_PAGE)  # follows the redirect to the login page

    answer = running.post(
        "/ui/login",
        follow_redirects=False,
        data={
            "token": token_of(container, tenant, "teacher", "tch-1"),
            "csrf_token": parts_of(login.text).hidden("csrf_token"),
            "next": parts_of(login.text).hidden("next"),
        },
    )

    assert answer.headers["location"] == CLASS_PAGE


@reads_only
def test_a_token_pasted_with_its_bearer_prefix_signs_in(
    running: TestClient, container: Container, tenant: str
) -> None:
    response = sign_in(running, "Bearer " + token_of(container, tenant, "guardian", "grd-1"))

    assert response.headers["location"] == "/ui/guardian"


@reads_only
def test_a_token_that_is_not_valid_is_refused_on_the_login_page(running: TestClient) -> None:
    login = running.get("/ui/login")

    answer = running.post(
        "/ui/login",
        data={
            "token": "not-a-token",
            "csrf_token": parts_of(login.text).hidden("csrf_token"),
        },
    )

    assert answer.status_code == 401
    assert "Kulkuavain ei kelpaa" in answer.text
    assert "digione_session" not in answer.headers.get("set-cookie", "")


@reads_only
def test_sign_in_without_the_forms_csrf_token_is_refused(
    running: TestClient, container: Container, tenant: str
) -> None:
    running.get("/ui/login")

    answer = running.post(
        "/ui/login",
        follow_redirects=False,
        data={
            "token": token_of(container, tenant, "teacher", "tch-1"),
            "csrf_token": "forged",
        },
    )

    assert answer.status_code == 403
    assert "digione_session" not in answer.headers.get("set-cookie", "")


@reads_only
def test_a_session_that_is_not_valid_goes_back_to_sign_in(running: TestClient) -> None:
    running.cookies.set("digione_session", "expired.or.forged", path="/ui")

    response = running.get("/ui/teacher", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login?next=%2Fui%2Fteacher&expired=1")


@reads_only
def test_signing_out_ends_the_session(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")
    page = running.get("/ui/logout")

    answer = post_form(running, page, "/ui/logout", {})

    assert answer.status_code == 303
    assert running.get("/ui/teacher", follow_redirects=False).status_code == 303


@reads_only
def test_the_login_page_says_a_provider_such_as_mpassid_comes_later(running: TestClient) -> None:
    page = running.get("/ui/login?lang=en")

    assert "MPASSid" in page.text and "OpenID Connect" in page.text


# -- languages -----------------------------------------------------------------------------


@reads_only
def test_pages_are_in_finnish_by_default(running: TestClient) -> None:
    page = running.get("/ui/login")

    assert parts_of(page.text).html_lang == "fi"
    assert "Kirjaudu sisään" in page.text


@reads_only
@pytest.mark.parametrize(
    ("lang", "title"), [("en", "Sign in"), ("sv", "Logga in"), ("fi", "Kirjaudu sisään")]
)
def test_the_language_switch_is_remembered_in_a_cookie(
    running: TestClient, lang: str, title: str
) -> None:
    switched = running.get(f"/ui/login?lang={lang}")

    later = running.get("/ui/login")

    assert f"digione_lang={lang}" in switched.headers["set-cookie"]
    assert parts_of(later.text).html_lang == lang
    assert f"<h1>{title}</h1>" in later.text


@reads_only
def test_an_unknown_language_falls_back_to_finnish(running: TestClient) -> None:
    page = running.get("/ui/login?lang=xx")

    assert parts_of(page.text).html_lang == "fi"


# -- the teacher's pages -------------------------------------------------------------------


@reads_only
def test_a_teacher_sees_only_the_classes_they_teach(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")

    page = fresh(running, container, tenant, "/ui/teacher")

    assert page.status_code == 200
    assert CLASS_PAGE in page.text and "/ui/teacher/classes/cls-5b" not in page.text


@reads_only
def test_the_heatmap_shows_each_level_as_a_number_and_a_colour_with_a_legend(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")

    page = fresh(running, container, tenant, CLASS_PAGE)

    assert page.status_code == 200
    assert "Aino Virtanen" in page.text and "Eero Oppilas" in page.text
    assert '<td class="lvl lvl-3"' in page.text  # the latest of 2 then 3
    assert '>3<span class="sr-only"> saavutettu hyvin</span>' in page.text
    assert "taso 4: saavutettu erinomaisesti" in page.text  # the legend
    assert "Murtoluvut" in page.text and "keskiarvo" in page.text  # the line item's spread


@reads_only
def test_a_students_page_draws_progress_as_an_svg_chart_with_a_table_alternative(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")

    page = fresh(running, container, tenant, f"{CLASS_PAGE}/students/stu-1")

    assert page.status_code == 200
    assert '<svg class="chart"' in page.text and 'role="img"' in page.text
    assert "<script" not in page.text
    assert "Näytä taulukkona" in page.text and "12.1.2026" in page.text


@reads_only
def test_a_student_not_in_the_class_is_not_found_on_its_page(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")

    page = fresh(running, container, tenant, f"{CLASS_PAGE}/students/stu-404")

    assert page.status_code == 404


@reads_only
def test_a_teacher_of_another_class_gets_a_403_page_with_nothing_of_the_class(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-2")

    page = fresh(running, container, tenant, CLASS_PAGE)
    drill_down = fresh(running, container, tenant, f"{CLASS_PAGE}/students/stu-1")

    assert page.status_code == drill_down.status_code == 403
    assert refusal_leaks_nothing(page) and refusal_leaks_nothing(drill_down)
    assert "Ei käyttöoikeutta" in page.text


@reads_only
def test_a_guardian_gets_a_403_page_for_a_class(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, CLASS_PAGE)

    assert page.status_code == 403
    assert refusal_leaks_nothing(page)


# -- the guardian's pages ------------------------------------------------------------------


@reads_only
def test_a_guardian_sees_their_children(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, "/ui/guardian")

    assert "Aino Virtanen" in page.text and CHILD_PAGE in page.text
    assert "Eero" not in page.text


@reads_only
def test_a_guardian_sees_the_childs_results_with_the_teachers_feedback(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, CHILD_PAGE)

    assert page.status_code == 200
    assert "Hyvää työtä murtoluvuissa." in page.text and "Tiina Opettaja" in page.text
    assert "saavutettu hyvin" in page.text  # the objective's level in plain language
    assert "Eeron oma palaute" not in page.text


@reads_only
@pytest.mark.parametrize(
    ("lang", "objective", "score", "grade"),
    [
        ("fi", "Osaan ratkaista ongelmia", "17 / 20", "9 (kiitettävä, asteikolla 4–10)"),
        ("sv", "Jag kan lösa problem", "17 / 20", "9 (berömlig, på skalan 4–10)"),
        ("en", "I can solve problems", "17 / 20", "9 (very good, on the scale 4–10)"),
    ],
)
def test_a_guardian_reads_objectives_as_the_learner_would_say_them_and_scores_out_of_their_maximum(
    running: TestClient,
    container: Container,
    tenant: str,
    school: School,
    lang: str,
    objective: str,
    score: str,
    grade: str,
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, f"{CHILD_PAGE}?lang={lang}")

    assert f'<p class="objective" lang="{lang}">{objective}' in page.text
    assert "ohjata ja tukea oppilasta" not in page.text  # the teacher's instruction
    assert score in page.text and grade in page.text
    assert ("DigiOnes egna" in page.text) == (lang == "sv")


@pytest.mark.parametrize(
    ("lang", "erased"), [("fi", "(tiedot poistettu)"), ("sv", "(uppgifterna raderade)")]
)
def test_an_erased_pupil_reads_as_erased_in_the_pages_language_on_the_teachers_page(
    running: TestClient, container: Container, tenant: str, school: School, lang: str, erased: str
) -> None:
    container.tenants.get(tenant).erase(
        Actor(tenant, "admin", "dpo"), subject="stu-2", reason="the family asked", basis=None
    )
    sign_in_as(running, container, tenant, "teacher", "tch-1")

    page = fresh(running, container, tenant, f"{CLASS_PAGE}?lang={lang}")

    assert page.status_code == 200
    assert erased in page.text
    assert ">erased<" not in page.text and "stu-2<" not in page.text


@reads_only
@pytest.mark.parametrize(
    ("role", "subject", "path"),
    [
        ("guardian", "grd-1", "/ui/guardian/children/stu-2/access"),
        ("guardian", "grd-1", "/ui/guardian/children/stu-2/access.json"),
        # A student's own export is theirs from 15; stu-1's age is not recorded.
        ("student", "stu-1", "/ui/guardian/children/stu-1/access"),
    ],
)
def test_the_access_page_and_its_download_are_refused_to_anyone_without_a_right_of_access(
    running: TestClient,
    container: Container,
    tenant: str,
    school: School,
    role: str,
    subject: str,
    path: str,
) -> None:
    sign_in_as(running, container, tenant, role, subject)

    page = running.get(path)

    assert page.status_code == 403
    assert refusal_leaks_nothing(page)


@reads_only
def test_a_guardian_of_another_child_gets_a_403_page_with_nothing_leaked(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    other = fresh(running, container, tenant, "/ui/guardian/children/stu-2")
    nobody = fresh(running, container, tenant, "/ui/guardian/children/stu-404")

    assert other.status_code == nobody.status_code == 403
    assert "Eero" not in other.text and "Eeron" not in other.text
    assert other.text.replace("stu-2", "…") == nobody.text.replace("stu-404", "…")


@reads_only
def test_a_teacher_gets_a_403_page_for_a_child(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")

    page = fresh(running, container, tenant, CHILD_PAGE)

    assert page.status_code == 403
    assert refusal_leaks_nothing(page)


@reads_only
def test_the_login_field_has_a_label(running: TestClient) -> None:
    parts = parts_of(running.get("/ui/login").text)

    assert [c.id for c in parts.controls if c.tag == "textarea"] == ["token"]
    assert parts.unlabelled() == []


# -- every page ----------------------------------------------------------------------------


@reads_only
@pytest.mark.parametrize(
    ("role", "subject", "path"),
    [
        ("teacher", "tch-1", "/ui/teacher"),
        ("teacher", "tch-1", CLASS_PAGE),
        ("teacher", "tch-1", f"{CLASS_PAGE}/students/stu-1"),
        ("guardian", "grd-1", "/ui/guardian"),
        ("guardian", "grd-1", CHILD_PAGE),
    ],
)
def test_every_page_says_how_fresh_its_data_is(
    running: TestClient,
    container: Container,
    tenant: str,
    school: School,
    role: str,
    subject: str,
    path: str,
) -> None:
    sign_in_as(running, container, tenant, role, subject)

    page = fresh(running, container, tenant, path)

    assert page.status_code == 200
    assert "Tiedot ovat ajan tasalla" in page.text or "odottaa vielä käsittelyä" in page.text


@reads_only
def test_only_a_teacher_sees_the_event_log_position_and_only_inside_details(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "teacher", "tch-1")
    teachers = fresh(running, container, tenant, CLASS_PAGE).text
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    guardians = fresh(running, container, tenant, CHILD_PAGE).text

    details = teachers.split('<details class="freshness-details">', 1)[1].split("</details>")[0]
    assert "apahtumalokin kohta" in details
    assert "apahtumalokin kohta" not in teachers.replace(details, "")
    assert "apahtumalokin kohta" not in guardians


@reads_only
def test_pages_run_no_script_are_never_framed_and_are_not_cached(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")

    page = fresh(running, container, tenant, CHILD_PAGE)

    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # falls back to default-src 'none': no script at all
    assert page.headers["cache-control"] == "no-store"


@reads_only
def test_a_page_whose_view_does_not_catch_up_in_time_says_so_and_offers_a_reload(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    sign_in_as(running, container, tenant, "guardian", "grd-1")
    beyond = container.tenants.get(tenant).head_position() + 1000

    page = running.get(f"{CHILD_PAGE}?min_position={beyond}")

    assert page.status_code == 504
    assert "Tiedot päivittyvät vielä" in page.text
    assert f'href="{CHILD_PAGE}?min_position={beyond}"' in page.text


@reads_only
def test_a_student_sees_their_own_page_from_the_front_page(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = sign_in(running, token_of(container, tenant, "student", "stu-1"))

    assert response.headers["location"] == CHILD_PAGE


@reads_only
def test_an_unknown_page_is_a_404_page(running: TestClient) -> None:
    page = running.get("/ui/no-such-page")

    assert page.status_code == 404
    assert "Sivua ei löydy" in page.text
