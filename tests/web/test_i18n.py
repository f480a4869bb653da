"""The pages' texts and formats: every text in every language, Finnish dates and numbers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from api.web import i18n
from api.web.i18n import LANGUAGES, Translator
from api.web.rendering import TEMPLATES

_LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_0-9 ]+)["']""")


def _keys_in_templates() -> set[str]:
    return {
        key
        for path in TEMPLATES.glob("*.html")
        for key in _LITERAL_KEY.findall(path.read_text(encoding="utf-8"))
    }


def test_every_text_a_template_names_exists() -> None:
    missing = sorted(key for key in _keys_in_templates() if not Translator("fi").has(key))

    assert missing == []


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_text_is_written_in_every_language(lang: str) -> None:
    t = Translator(lang)

    empty = [key for key in i18n._MESSAGES if not t(key).strip()]

    assert empty == []


@pytest.mark.parametrize(
    ("lang", "expected"), [("fi", "20.2.2026"), ("sv", "20.2.2026"), ("en", "20 Feb 2026")]
)
def test_dates_are_written_as_each_language_writes_them(lang: str, expected: str) -> None:
    assert Translator(lang).date("2026-02-20") == expected
    assert Translator(lang).date(datetime(2026, 2, 20, 16, 0, tzinfo=UTC)) == expected


def test_numbers_take_a_decimal_comma_in_finnish_and_swedish() -> None:
    assert Translator("fi").number(26.667, decimals=2) == "26,67"
    assert Translator("sv").number(28.5) == "28,5"
    assert Translator("en").number(28.5) == "28.5"
    assert Translator("fi").number(30.0) == "30"
    assert Translator("fi").number(None) == "–"


def test_times_are_shown_in_finnish_time() -> None:
    winter = datetime(2026, 2, 20, 6, 0, tzinfo=UTC)

    assert Translator("fi").time(winter) == "20.2.2026 klo 08.00"
    assert Translator("en").time(winter) == "20 Feb 2026 at 08:00"


@pytest.mark.parametrize(
    ("lang", "text"), [("fi", "saavutettu hyvin"), ("en", "reached well"), ("sv", "väl uppnått")]
)
def test_attainment_levels_are_in_plain_language(lang: str, text: str) -> None:
    assert Translator(lang).level(3) == text


def test_a_swedish_page_shows_the_finnish_objective_title_when_no_swedish_one_exists() -> None:
    titles = {"fi": "murtoluvut", "en": "fractions"}

    assert Translator("sv").title(titles, "MA.3-6.T5") == "murtoluvut"
    assert Translator("sv").title_lang(titles) == "fi"
    assert Translator("en").title(titles, "MA.3-6.T5") == "fractions"
    assert Translator("en").title({"fi": None, "en": None}, "MA.3-6.T5") == "MA.3-6.T5"


def test_status_words_fall_back_to_the_value_itself() -> None:
    t = Translator("fi")

    assert t.maybe("status_", "not submitted") == "ei palautettu"
    assert t.maybe("status_", "something new") == "something new"
    assert t.maybe("status_", None) == ""


def test_the_month_labels_of_charts() -> None:
    assert Translator("fi").month(date(2025, 9, 1)) == "9/2025"
    assert Translator("en").month(date(2025, 9, 1)) == "Sep 2025"
