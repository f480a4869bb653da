"""Conformance: schemathesis generates requests from the provider's local copy of the
rostering OpenAPI file and checks every answer against it: no 5xx, documented status codes,
content types, headers and bodies that match the schemas.

One backend (SQLite) and a few examples per operation keep it under a minute; the filter,
sort, paging and field edge cases have their own tests.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient

from api.oneroster.discovery import local_rostering_document
from api.oneroster.rostering import BASE_PATH
from tests.builders import School
from tests.oneroster.conformance import ORIGIN, every_answer_conforms
from tests.oneroster.conftest import ClientFactory

schema = schemathesis.openapi.from_dict(local_rostering_document(ORIGIN))


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
    every_answer_conforms(schema, client, base_path=BASE_PATH, auth=auth, operation_count=41)
