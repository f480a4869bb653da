"""Checking every answer of a OneRoster service against its local OpenAPI copy."""

from __future__ import annotations

from typing import Any, cast

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.core import NotSet

ORIGIN = "http://testserver"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def every_answer_conforms(
    schema: Any,
    client: TestClient,
    *,
    base_path: str,
    auth: dict[str, str],
    operation_count: int,
    examples: int = 10,
) -> None:
    """Sends `examples` generated requests to every operation of `schema` (which must hold
    `operation_count`) and validates each answer against it: no 5xx, documented status
    codes, content types, headers and bodies."""
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert len(operations) == operation_count

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def answers_conform(case: Any) -> None:
            body = {} if isinstance(case.body, NotSet) else {"json": case.body}
            response = client.request(
                case.method,
                base_path + case.formatted_path,
                params=case.query,
                headers={**(case.headers or {}), **auth},
                **body,
            )
            case.validate_response(response, checks=CHECKS)

        answers_conform()
