"""Conformance: schemathesis generates requests from the provider's local copy of the
gradebook OpenAPI file (27 operations: the Assessment Results profile is out of scope) and
checks every answer against it: no 5xx, documented status codes, content types, headers
and bodies that match the schemas; writes included, by a client that may write."""

from __future__ import annotations

from typing import Any, cast

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet

from api.oneroster.discovery import local_gradebook_document
from api.oneroster.gradebook import BASE_PATH
from tests.builders import School
from tests.oneroster.conftest import ClientFactory, Project
from tests.oneroster.test_gradebook_provider import a_line_item
from tests.oneroster.test_rostering_conformance import CHECKS, ORIGIN

schema = schemathesis.openapi.from_dict(local_gradebook_document(ORIGIN))


def _body(case: Any) -> dict[str, Any]:
    return {} if isinstance(case.body, NotSet) else {"json": case.body}


@pytest.fixture
def backend() -> str:
    """SQLite only: the same provider runs on both; the behaviour tests cover PostgreSQL."""
    return "sqlite"


@pytest.fixture
def auth(school: School, vendor: ClientFactory, client: TestClient, project: Project) -> dict[str, str]:  # fmt: skip
    # A line item the teacher wrote, so reads have something to serve.
    written = client.put(
        "/api/v1/lineItems/li-1", headers=school.teacher, json={"lineItem": a_line_item(sourcedId="li-1")}
    )  # fmt: skip
    assert written.status_code == 201, written.text
    project()
    return vendor(
        "conformance",
        scopes=("gradebook.readonly", "gradebook.createput", "gradebook.createpost",
                "gradebook.delete"),
    )  # fmt: skip


def test_every_gradebook_answer_conforms_to_the_local_openapi_copy(
    client: TestClient, auth: dict[str, str]
) -> None:
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert len(operations) == 27

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def answers_conform(case: Any) -> None:
            response = client.request(
                case.method,
                BASE_PATH + case.formatted_path,
                params=case.query,
                headers={**(case.headers or {}), **auth},
                **_body(case),
            )

            case.validate_response(response, checks=CHECKS)

        answers_conform()
