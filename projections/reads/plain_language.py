"""Codes of a read in plain language: attainment levels and curriculum objectives' titles."""

from __future__ import annotations

from collections.abc import Mapping

from domain.curriculum import Curriculum, UnknownObjectiveError

__all__ = ["LEVEL_TEXTS", "learner_titles", "objective_titles"]

#: Attainment levels in plain language (domain.attainment.ATTAINMENT_LEVELS).
LEVEL_TEXTS: Mapping[int, Mapping[str, str]] = {
    1: {"fi": "ei vielä saavutettu", "en": "not yet reached"},
    2: {"fi": "osittain saavutettu", "en": "partly reached"},
    3: {"fi": "saavutettu hyvin", "en": "reached well"},
    4: {"fi": "saavutettu erinomaisesti", "en": "reached excellently"},
}


def objective_titles(curriculum: Curriculum, code: str) -> dict[str, str | None]:
    """An objective's title in Finnish and English; None for a code the curriculum lacks."""
    try:
        objective = curriculum.objective(code)
    except UnknownObjectiveError:
        return {"fi": None, "en": None}
    return {"fi": objective.title_fi, "en": objective.title_en}


def learner_titles(curriculum: Curriculum, code: str) -> dict[str, str | None]:
    """An objective as a learner would say it, in Finnish, Swedish and English; None in a
    language without a learner-facing wording yet (the official title is shown instead)."""
    try:
        titles = curriculum.objective(code).learner_titles()
    except UnknownObjectiveError:
        titles = {}
    return {lang: titles.get(lang) for lang in ("fi", "sv", "en")}
