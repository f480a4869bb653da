"""The pages in a real browser: headless Chromium against a live server of the demo tenant.

Each test signs in through the login form as a person would, and saves screenshots of what
it saw, on a phone-sized and a desktop window, under test-artifacts/web/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect  # a test dependency: its absence is a failure

from api.demo import CONSENT_RECIPIENT
from domain.commands import GrantConsent, PutEnrollment, PutUser, RecordAssessment
from tests.web.conftest import ARTIFACTS, DESKTOP, PHONE, DemoSite

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page


@dataclass(frozen=True)
class Person:
    sourced_id: str
    name: str


@dataclass(frozen=True)
class Family:
    guardian: str
    child: Person


class Cast:
    """Who is who in the demo, read from its plan."""

    def __init__(self, site: DemoSite) -> None:
        steps = [step.command for step in site.plan.steps]
        users = [c for c in steps if isinstance(c, PutUser)]
        self.names = {
            u.sourced_id: f"{u.personal['givenName']} {u.personal['familyName']}" for u in users
        }
        self.guardians = {u.sourced_id: list(u.guardians) for u in users if u.guardians}
        self.comments = {
            c.student: c.comment for c in steps if isinstance(c, RecordAssessment) and c.comment
        }
        self.class_teacher = {
            c.school_class: c.user
            for c in steps
            if isinstance(c, PutEnrollment) and c.role == "teacher" and c.primary
        }
        self.class_students: dict[str, list[str]] = {}
        for c in steps:
            if isinstance(c, PutEnrollment) and c.role == "student":
                self.class_students.setdefault(c.school_class, []).append(c.user)
        self.consents = [
            (c.granted_by, c.student)
            for c in steps
            if isinstance(c, GrantConsent) and c.granted_by != c.student
        ]

    def person(self, sourced_id: str) -> Person:
        return Person(sourced_id, self.names[sourced_id])

    def family_with_feedback(self) -> tuple[Family, str]:
        student = next(s for s in sorted(self.comments) if s in self.guardians)
        return Family(self.guardians[student][0], self.person(student)), self.comments[student]

    def family_with_consent(self) -> Family:
        guardian, student = self.consents[0]
        return Family(guardian, self.person(student))

    def not_a_child_of(self, guardian: str) -> Person:
        return self.person(
            next(s for s, gs in sorted(self.guardians.items()) if guardian not in gs)
        )


@pytest.fixture(scope="module")
def cast(demo_site: DemoSite) -> Cast:
    return Cast(demo_site)


def _sign_in(page: Page, site: DemoSite, token: str, start: str) -> None:
    """Opens `start`, is sent to the login page, signs in and comes back."""
    page.goto(site.url + start)
    expect(page.get_by_role("heading", level=1)).to_have_text("Kirjaudu sisään")
    page.get_by_label("Kulkuavain").fill(token)
    page.get_by_role("button", name="Kirjaudu").click()
    page.wait_for_url(site.url + start)


def _snap(page: Page, name: str) -> None:
    """Screenshots of the whole page on a phone and on a desktop."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def _fits_the_window(page: Page) -> bool:
    """No sideways scrolling of the whole page (wide tables scroll in their own box)."""
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_a_teacher_signs_in_and_sees_the_heatmap_of_their_class(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext
) -> None:
    class_id = "cls-aur-3a"
    teacher = cast.class_teacher[class_id]
    student = cast.person(min(cast.class_students[class_id]))
    page = browser.new_page()

    _sign_in(page, demo_site, demo_site.token("teacher", teacher), "/ui/teacher")
    page.get_by_role("link", name="Matematiikka 3A").click()

    heatmap = page.get_by_role("table").filter(has_text="Oppilas")
    expect(heatmap).to_be_visible()
    expect(heatmap.get_by_role("rowheader", name=student.name)).to_be_visible()
    # Each level cell shows its number, and says its meaning to a screen reader.
    expect(heatmap.locator("td.lvl:not(.none)").first).to_have_text(
        re.compile(r"^[1-4] (ei vielä|osittain|saavutettu)")
    )
    expect(page.get_by_text("taso 4: saavutettu erinomaisesti")).to_be_visible()
    expect(page.get_by_text("Tiedot ovat ajan tasalla")).to_be_visible()
    # Work handed in after its due date is listed under its own heading.
    expect(page.get_by_role("heading", name="Myöhässä palautetut työt")).to_be_visible()
    expect(page.locator("ul.late li").first).to_contain_text("määräpäivä")
    assert _fits_the_window(page)
    _snap(page, "teacher-class-heatmap")

    page.get_by_role("link", name=student.name).first.click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(student.name)
    expect(page.get_by_role("img", name="Arvosanat ajan myötä")).to_be_visible()
    assert _fits_the_window(page)
    _snap(page, "teacher-student-progress")


def test_a_guardian_signs_in_and_sees_the_childs_feedback(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext
) -> None:
    family, comment = cast.family_with_feedback()
    page = browser.new_page()

    _sign_in(page, demo_site, demo_site.token("guardian", family.guardian), "/ui/guardian")
    page.get_by_role("link", name=family.child.name).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(family.child.name)
    expect(page.get_by_text(comment).first).to_be_visible()
    expect(page.get_by_text("Opettajan palaute").first).to_be_visible()
    assert _fits_the_window(page)
    _snap(page, "guardian-child-view")


def test_a_guardian_withdraws_a_consent_from_the_page_and_sees_it_withdrawn(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext
) -> None:
    family = cast.family_with_consent()
    page = browser.new_page()
    _sign_in(
        page,
        demo_site,
        demo_site.token("guardian", family.guardian),
        f"/ui/guardian/children/{family.child.sourced_id}",
    )
    consent = page.locator(".consents li").filter(has_text=CONSENT_RECIPIENT)
    expect(consent.get_by_text("voimassa", exact=True)).to_be_visible()

    page.get_by_role("button", name=f"Peru suostumus palvelulle {CONSENT_RECIPIENT}").click()

    expect(page.get_by_role("status")).to_have_text("Suostumus on peruttu.")
    assert "min_position=" in page.url
    expect(consent.get_by_text("peruttu", exact=True)).to_be_visible()
    expect(
        page.get_by_role("button", name=f"Peru suostumus palvelulle {CONSENT_RECIPIENT}")
    ).to_have_count(0)
    _snap(page, "guardian-consent-withdrawn")


def test_a_guardian_grants_a_consent_by_choosing_a_registered_service_and_withdraws_it(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext
) -> None:
    family, _ = cast.family_with_feedback()
    page = browser.new_page()
    _sign_in(
        page,
        demo_site,
        demo_site.token("guardian", family.guardian),
        f"/ui/guardian/children/{family.child.sourced_id}",
    )
    service = page.locator(".choice").filter(has_text="Lukuvalmennus")
    expect(service).to_contain_text("edistymisestä kertominen kotiin")
    expect(service).to_contain_text("luokka- ja ryhmätiedot")
    _snap(page, "guardian-consent-form")

    page.get_by_label("Lukuvalmennus").check()
    page.get_by_label("luokka- ja ryhmätiedot").check()
    page.get_by_role("button", name="Anna suostumus").click()

    expect(page.get_by_role("status")).to_have_text("Suostumus on annettu.")
    granted = page.locator(".consents li").filter(has_text="Lukuvalmennus")
    expect(granted.get_by_text("voimassa", exact=True)).to_be_visible()
    expect(granted).to_contain_text("oppimissovelluksen käyttö opetuksessa")

    page.get_by_role("button", name="Peru suostumus palvelulle Lukuvalmennus").click()

    expect(page.get_by_role("status")).to_have_text("Suostumus on peruttu.")
    expect(granted.get_by_text("peruttu", exact=True)).to_be_visible()


#: What a bad consent form says beside each field, in each language.
_CONSENT_ERRORS = {
    "fi": ("Valitse palvelu", "Valitse vähintään yksi tieto", "Päivämäärä on jo mennyt"),
    "sv": ("Välj den tjänst", "Välj minst en uppgift", "Datumet har redan varit"),
    "en": ("Choose the service", "Choose at least one kind", "The date has passed"),
}


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_bad_consent_form_shows_every_error_beside_its_field_in_the_pages_language(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext, lang: str
) -> None:
    family, _ = cast.family_with_feedback()
    path = f"/ui/guardian/children/{family.child.sourced_id}"
    page = browser.new_page()
    _sign_in(page, demo_site, demo_site.token("guardian", family.guardian), path)
    page.goto(f"{demo_site.url}{path}?lang={lang}")

    page.locator("#valid_until").fill("2020-01-31")
    page.locator("form[action$='/consents#consent-errors'] button[type=submit]").click()

    summary = page.locator("#consent-errors")
    expect(summary).to_be_in_viewport()
    for field, message in zip(("recipient", "categories", "valid_until"), _CONSENT_ERRORS[lang]):
        expect(page.locator(f"#{field}-error")).to_contain_text(message)
        expect(summary.locator(f"a[href='#{field}']")).to_have_count(1)
        # Beside its field: inside the field's own group, read out with it.
        described = page.locator(f"[aria-describedby~='{field}-error']")
        expect(described).to_have_count(1)
    assert _fits_the_window(page)
    _snap(page, f"guardian-consent-errors-{lang}")


def test_a_guardian_opening_another_childs_page_gets_403_with_nothing_leaked(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext
) -> None:
    family, _ = cast.family_with_feedback()
    other = cast.not_a_child_of(family.guardian)
    page = browser.new_page()
    _sign_in(page, demo_site, demo_site.token("guardian", family.guardian), "/ui/guardian")

    response = page.goto(f"{demo_site.url}/ui/guardian/children/{other.sourced_id}")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Ei käyttöoikeutta")
    assert other.name not in page.content()
    _snap(page, "guardian-other-child-403")


def test_the_language_switch_changes_and_keeps_the_language(
    demo_site: DemoSite, browser: BrowserContext
) -> None:
    page = browser.new_page()
    page.goto(f"{demo_site.url}/ui/login")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.goto(f"{demo_site.url}/ui/login")

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Svenska").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")
    _snap(page, "login-swedish")


def test_the_pages_are_usable_with_the_keyboard(
    demo_site: DemoSite, browser: BrowserContext
) -> None:
    page = browser.new_page()
    page.goto(f"{demo_site.url}/ui/login")

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Siirry sisältöön")).to_be_focused()
    page.get_by_label("Kulkuavain").focus()
    page.keyboard.type("not-a-token")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Kirjaudu")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("alert")).to_contain_text("Kulkuavain ei kelpaa")


#: Internal ids of people, terms and classes (the demo's sourcedIds all start so).
_INTERNAL_ID = re.compile(r"\b(grd|tch|stu|term|cls)-")
#: The event-log position, as each language says it.
_POSITION = re.compile(r"tapahtumalokin kohta|i händelseloggen|event log position", re.IGNORECASE)
#: What a reader sees of a page: its text as rendered (a closed <details> hides its
#: content), its title, and the attributes a screen reader or a hover reads out.
_WHAT_A_READER_SEES = """() => [document.title, document.body.innerText].concat(
  Array.from(document.querySelectorAll('[title], [aria-label], [alt]')).flatMap(
    e => ['title', 'aria-label', 'alt'].map(a => e.getAttribute(a) || '')),
  Array.from(document.querySelectorAll('svg title, svg desc')).map(e => e.textContent)
).join('\\n')"""


def _shown_ids(page: Page) -> list[str]:
    seen = str(page.evaluate(_WHAT_A_READER_SEES))
    return [
        line for line in seen.splitlines() if _INTERNAL_ID.search(line) or _POSITION.search(line)
    ]


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_no_page_a_guardian_or_teacher_sees_shows_an_internal_id_or_the_log_position(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext, lang: str
) -> None:
    family, _ = cast.family_with_feedback()
    class_id = "cls-aur-3a"
    teacher = cast.class_teacher[class_id]
    student = min(cast.class_students[class_id])
    page = browser.new_page()
    pages = {
        "teacher": [
            "/ui/teacher",
            f"/ui/teacher/classes/{class_id}",
            f"/ui/teacher/classes/{class_id}/students/{student}",
        ],
        "guardian": ["/ui/guardian", f"/ui/guardian/children/{family.child.sourced_id}"],
    }
    people = {"teacher": teacher, "guardian": family.guardian}

    for role, paths in pages.items():
        _sign_in(page, demo_site, demo_site.token(role, people[role]), paths[0])
        for path in paths:
            page.goto(f"{demo_site.url}{path}?lang={lang}")

            assert _shown_ids(page) == [], f"{role} sees an internal id on {path} ({lang})"
            expect(page.locator(".who")).to_contain_text(cast.names[people[role]])
            if role == "teacher":
                page.locator("details.freshness-details summary").click()
                assert _POSITION.search(page.locator("details.freshness-details").inner_text())
            if lang == "fi":
                _snap(page, f"{role}-{path.strip('/').replace('/', '-')}")
        browser.clear_cookies()  # signed out, and the language back to Finnish


def test_a_guardian_reads_the_childs_data_and_its_disclosure_record_and_downloads_it(
    demo_site: DemoSite, cast: Cast, browser: BrowserContext
) -> None:
    family, _ = cast.family_with_feedback()
    child = f"/ui/guardian/children/{family.child.sourced_id}"
    page = browser.new_page()
    _sign_in(page, demo_site, demo_site.token("guardian", family.guardian), child)

    page.get_by_role(
        "link", name="Kaikki tallennetut tiedot ja kenelle niitä on luovutettu"
    ).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(family.child.name)
    recorded = page.locator("#recorded table")
    expect(recorded.get_by_role("rowheader", name="arvioinnit")).to_be_visible()
    # Opening the child's page a moment ago was recorded: to the guardian, by name.
    disclosures = page.locator("#disclosures table")
    own_read = disclosures.locator("tr").filter(has_text=cast.names[family.guardian])
    expect(own_read.filter(has_text="koulun lakisääteinen tehtävä").first).to_be_visible()
    assert _shown_ids(page) == []
    assert _fits_the_window(page)
    _snap(page, "guardian-access-page")

    download = page.request.get(f"{demo_site.url}{child}/access.json")

    document = download.json()
    assert download.headers["content-disposition"].startswith("attachment")
    assert document["formatVersion"] == 1 and document["subject"] == family.child.sourced_id
    assert {"recordedBy", "firstRecordedAt", "events"} <= set(document["records"][0])
    assert any(d["recipient"] == family.guardian for d in document["disclosures"])
    # The export itself is recorded too, on the right of access.
    page.reload()
    expect(
        own_read.filter(has_text="kaikki tiedot").filter(has_text="oikeus saada pääsy").first
    ).to_be_visible()
