"""Hostile input over the whole OpenAPI: every operation, generated requests (valid and
invalid by the schema), sent as every kind of caller.

No answer is a server error, and a refused request (4xx) writes nothing: no event in any
tenant's store, no subject key, erasure-list entry, idempotency answer or result slot, no
disclosure row nor count. Deterministic (derandomized), so CI sees the same requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation

from api.bootstrap import Container
from tests.hostile.conftest import Caller, HostileSchool
from tests.store_writes import writes

#: Generated requests per operation (each sent once per kind of caller).
EXAMPLES_PER_OPERATION = 3


def operations(client: TestClient) -> Iterator[APIOperation[Any, Any, Any, Any]]:
    """Every operation of the app's OpenAPI (an operation it cannot read fails the test)."""
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        yield result.ok()


def reachable(params: dict[str, Any], reached: int) -> dict[str, Any]:
    """The query with a valid `min_position` lowered to a position the caller's read models
    reached (a later one is waited for, then answered 504, by design:
    tests/integration/test_serve_runtime.py); an invalid one is kept, to be refused at once
    (tests/hostile/test_freshness_after_validation.py)."""
    value = params.get("min_position")
    if isinstance(value, int | str) and str(value).isdigit() and int(value) > reached:
        return {**params, "min_position": reached}
    return params


def send(client: TestClient, case: Any, caller: Caller) -> Any:
    sent = case.as_transport_kwargs(base_url="http://testserver")
    body = sent.get("data")
    if sent.get("cookies"):
        client.cookies.update(sent["cookies"])
    try:
        return client.request(
            sent["method"],
            sent["url"],
            headers={**(sent.get("headers") or {}), **caller.headers},
            params=reachable(sent.get("params") or {}, caller.reached),
            json=sent.get("json"),
            content=body if isinstance(body, bytes | str) else None,
        )
    finally:
        client.cookies.clear()


# On PostgreSQL alone: what a refusal may not write is decided above the store, and the
# SQLite store's writes are checked by tests/integration/test_command_input.py.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.postgres
@pytest.mark.broker
def test_no_operation_answers_a_hostile_request_with_a_server_error_or_writes_on_refusal(
    running: TestClient, container: Container, hostile_school: HostileSchool
) -> None:
    school = hostile_school
    tenants = [school.tenant, school.other_tenant]
    failures: list[str] = []

    for operation in operations(running):
        if operation.path.startswith("/ims/") and operation.method.upper() == "GET":
            # OneRoster reads are fuzzed against their own OpenAPI copy, status-info answers
            # and all: tests/oneroster/test_*_conformance.py. Their writes are fuzzed here.
            continue

        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
        )
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def hostile(case: Any) -> None:
            before = writes(container, tenants)
            for who, caller in school.callers.items():
                answer = send(running, case, caller)
                after = writes(container, tenants)
                label = f"{case.operation.label} as {who}: {answer.status_code}"
                if answer.status_code >= 500:
                    failures.append(f"{label} {answer.text[:300]} ({case.as_curl_command()})")
                elif answer.status_code >= 400 and after != before:
                    failures.append(f"{label} wrote on refusal ({case.as_curl_command()})")
                before = after

        hostile()

    assert not failures, "\n".join(failures)
