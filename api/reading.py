"""What the read routes (and the web pages) share: a read-model connection, and sealed
personal data opened for display.

Read models hold personal data only sealed (projections/sealed.py); it is opened here, at
read time, with the tenant application's sealer. An erased subject's data reads as the
marker text "erased", never as an error (DESIGN.md invariant 5).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from api.bootstrap import Container
from api.problems import ProblemError
from domain.consent import age_on
from domain.curriculum import Curriculum, UnknownObjectiveError
from domain.sealing import ERASED, Erased, Sealer
from projections.sealed import sealed_value

__all__ = [
    "ERASED_TEXT",
    "LEVEL_TEXTS",
    "Unsealer",
    "age_on",
    "document",
    "not_permitted",
    "objective_titles",
    "read_model",
]

#: What a reader sees in place of personal data whose key has been destroyed.
ERASED_TEXT = "erased"

#: Attainment levels in plain language (domain.attainment.ATTAINMENT_LEVELS).
LEVEL_TEXTS: Mapping[int, Mapping[str, str]] = {
    1: {"fi": "ei vielä saavutettu", "en": "not yet reached"},
    2: {"fi": "osittain saavutettu", "en": "partly reached"},
    3: {"fi": "saavutettu hyvin", "en": "reached well"},
    4: {"fi": "saavutettu erinomaisesti", "en": "reached excellently"},
}


@contextmanager
def read_model(container: Container) -> Iterator[Connection]:
    """A connection to the read models; 503 while they are not there (never built, or the
    database is unreachable), so the caller retries instead of seeing a server error."""
    try:
        with container.engine.connect() as connection:
            yield connection
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        raise ProblemError(
            503, "read-model-unavailable", "Read model unavailable",
            "the read model is not available yet; try again shortly",
        ) from None


def document(content: Mapping[str, Any]) -> Response:
    """A read's answer, already plain JSON values, encoded once with orjson and sent.

    A route that returns a dict has FastAPI walk it with jsonable_encoder first; for a
    dashboard page (~150 kB) that walk costs more than reading it from the read model.
    """
    return Response(orjson.dumps(content), media_type="application/json")


def not_permitted(detail: str) -> ProblemError:
    """The one refusal of every read: the same answer whether or not the record exists."""
    return ProblemError(403, "not-permitted", "Not permitted", detail)


class Unsealer:
    """Opens sealed records of one request, each subject's record once."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        self._opened: dict[str, dict[str, Any] | Erased] = {}

    def open(self, sealed: Mapping[str, Any] | None) -> dict[str, Any] | Erased | None:
        """The plaintext mapping, ERASED when the key is gone (or the value was blanked),
        None when there is nothing sealed."""
        if sealed is None:
            return None
        if "ciphertext" not in sealed:
            return ERASED
        key = f"{sealed['subject']}/{sealed['retention']}/{sealed['nonce']}"
        if key not in self._opened:
            self._opened[key] = self._sealer.unseal(sealed_value(sealed))
        return self._opened[key]

    def name(self, personal: Mapping[str, Any] | None) -> str | None:
        """A user's name as people use it: preferred names first (OneRoster 1.2 User)."""
        opened = self.open(personal)
        if opened is None:
            return None
        if isinstance(opened, Erased):
            return ERASED_TEXT
        first = opened.get("preferredFirstName") or opened.get("givenName") or ""
        last = opened.get("preferredLastName") or opened.get("familyName") or ""
        return f"{first} {last}".strip() or None

    def text(self, sealed: Mapping[str, Any] | None, field: str) -> str | None:
        """One text field of a sealed record (a verbal assessment's `comment`)."""
        opened = self.open(sealed)
        if opened is None:
            return None
        if isinstance(opened, Erased):
            return ERASED_TEXT
        value = opened.get(field)
        return None if value is None else str(value)

    def birth_date(self, demographics: Mapping[str, Any] | None) -> date | None:
        """The birthDate of sealed demographics; None when unknown or erased."""
        opened = self.open(demographics)
        if not isinstance(opened, dict) or not opened.get("birthDate"):
            return None
        return date.fromisoformat(str(opened["birthDate"]))


def objective_titles(curriculum: Curriculum, code: str) -> dict[str, str | None]:
    """An objective's title in Finnish and English; None for a code the curriculum lacks."""
    try:
        objective = curriculum.objective(code)
    except UnknownObjectiveError:
        return {"fi": None, "en": None}
    return {"fi": objective.title_fi, "en": objective.title_en}
