"""Each error a read raises is answered with the problem the API has always answered it
with: one table (api/problems.py) maps them, for the JSON API and the pages alike."""

from __future__ import annotations

import pytest

from api.problems import problem_of
from domain.curriculum import UnknownSubjectError
from domain.errors import NotFoundError
from projections.class_dashboard_queries import UnknownTermError
from projections.freshness import ReadModelNotFreshError
from projections.reads.access import (
    ReadModelUnavailableError,
    ReadNotPermittedError,
    RosterRecordNotFoundError,
)
from projections.reads.disclosures import DisclosureNotRecordedError


@pytest.mark.parametrize(
    ("error", "status", "code", "title", "field"),
    [
        (ReadNotPermittedError("not yours"), 403, "not-permitted", "Not permitted", None),
        (RosterRecordNotFoundError("users has no 'x'"), 404, "not-found", "Not found", None),
        (NotFoundError("no erasure 'x' in this tenant"), 404, "not-found", "Not found", None),
        (UnknownSubjectError("XX"), 422, "unknown-subject", "Unknown subject", "subject"),
        (
            UnknownTermError("term 'x' is not an academic session of this tenant"),
            422,
            "unknown-term",
            "Unknown term",
            "term",
        ),
        (
            ReadModelUnavailableError("not there yet"),
            503,
            "read-model-unavailable",
            "Read model unavailable",
            None,
        ),
        (
            DisclosureNotRecordedError("closed"),
            503,
            "disclosure-not-recorded",
            "Disclosure not recorded",
            None,
        ),
        (
            ReadModelNotFreshError(projection="roster", min_position=12, position=10),
            504,
            "read-model-not-fresh",
            "Read model not fresh yet",
            "min_position",
        ),
    ],
)
def test_a_read_error_is_answered_with_its_problem_and_its_own_detail(
    error: Exception, status: int, code: str, title: str, field: str | None
) -> None:
    answer = problem_of(error)

    assert answer is not None
    assert (answer.status, answer.code, answer.title, answer.field) == (status, code, title, field)
    assert answer.detail == str(error)


def test_an_error_the_table_does_not_name_has_no_problem() -> None:
    assert problem_of(KeyError("x")) is None
