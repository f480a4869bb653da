"""Conformance: schemathesis generates requests from the provider's local copy of the
rostering OpenAPI file and checks every answer against it: no 5xx, documented status codes,
content types, headers and bodies that match the schemas.

One backend (SQLite) and a few examples per operation keep it under a minute; the filter,
sort, paging and field edge cases have their own tests.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from api.oneroster.discovery import local_rostering_document
from api.oneroster.rostering import BASE_PATH
from tests.builders import School
from tests.oneroster.conftest import ClientFactory

ORIGIN = "http://testserver"
schema = schemathesis.openapi.from_dict(local_rostering_document(ORIGIN))

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def backend() -> str:
    """SQLite only: the same provider runs on both; the behaviour tests cover PostgreSQL."""
    return "sqlite"


@pytest.fixture
def auth(school: School, vendor: ClientFactory) -> dict[str, str]:
    return vendor(
        "conformance",
        scopes=("roster.readonly", "roster-demographics.readonly"),
        categories=("identity", "contact", "demographics"),
    )


def test_every_rostering_answer_conforms_to_the_local_openapi_copy(
    client: TestClient, auth: dict[str, str]
) -> None:
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert len(operations) == 41

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
            )

            case.validate_response(response, checks=CHECKS)

        answers_conform()
