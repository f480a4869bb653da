"""Conformance: schemathesis generates requests from the provider's local copy of the
gradebook OpenAPI file (27 operations: the Assessment Results profile is out of scope) and
checks every answer against it: no 5xx, documented status codes, content types, headers
and bodies that match the schemas; writes included, by a client that may write."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient

from api.oneroster.discovery import local_gradebook_document
from api.oneroster.gradebook import BASE_PATH
from tests.builders import School
from tests.oneroster.conformance import ORIGIN, every_answer_conforms
from tests.oneroster.conftest import ClientFactory, Project
from tests.oneroster.test_gradebook_provider import a_line_item

schema = schemathesis.openapi.from_dict(local_gradebook_document(ORIGIN))


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
    every_answer_conforms(schema, client, base_path=BASE_PATH, auth=auth, operation_count=27)
