"""Oversized input is refused at the door: a body over the limit unread, a field over its
maximum as a problem naming it; neither records anything."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from api import models
from api.body_limit import BodyTooLarge
from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import a_school, a_user, bearer

MB = 1024 * 1024


def _admin_headers(container: Container, tenant: str) -> dict[str, str]:
    return {**bearer(container, tenant, "admin", "a"), "Content-Type": "application/json"}


def _assert_body_too_large(response: Any, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:digione:problem:body-too-large"
    assert problem["status"] == 413
    assert str(limit) in problem["detail"]


def test_a_five_megabyte_given_name_is_refused_and_records_nothing(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    user = a_user("u-big", "student", given="x" * (5 * MB), family="Iso")
    head, keys = app.head_position(), app.tables.count_subject_keys()

    response = client.put("/api/v1/roster/users/u-big", json={"user": user}, headers=school.admin)

    _assert_body_too_large(response, container.settings.max_body_bytes)
    assert app.head_position() == head
    assert app.tables.count_subject_keys() == keys


def test_a_fifty_megabyte_body_is_refused_with_413(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    head = app.head_position()

    response = client.put(
        "/api/v1/roster/users/u-big",
        content=b'{"user": {"givenName": "' + b"x" * (50 * MB) + b'"}}',
        headers=_admin_headers(container, tenant),
    )

    _assert_body_too_large(response, container.settings.max_body_bytes)
    assert app.head_position() == head


def test_a_streamed_body_over_the_limit_without_a_content_length_is_refused(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    head, keys = app.head_position(), app.tables.count_subject_keys()

    def chunks() -> Iterator[bytes]:
        yield b'{"user": {"givenName": "'
        for _ in range(8):
            yield b"x" * (64 * 1024)
        yield b'", "familyName": "B", "roles": []}}'

    response = client.put(
        "/api/v1/roster/users/u-big",
        content=chunks(),
        headers=_admin_headers(container, tenant),
    )

    _assert_body_too_large(response, container.settings.max_body_bytes)
    assert app.head_position() == head
    assert app.tables.count_subject_keys() == keys


def test_a_body_of_exactly_the_limit_is_still_accepted(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    user = a_user("u-7", "student", given="Aino", family="Laaja")
    text = json.dumps({"user": user})
    body = text + " " * (container.settings.max_body_bytes - len(text))  # JSON allows it

    response = client.put(
        "/api/v1/roster/users/u-7",
        content=body.encode(),
        headers={**school.admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["position"] == app.head_position()


def test_a_body_one_byte_over_the_limit_is_refused(
    client: TestClient, container: Container, tenant: str
) -> None:
    limit = container.settings.max_body_bytes
    text = json.dumps({"org": {"name": "Kunta", "type": "district"}})
    body = text + " " * (limit + 1 - len(text))

    response = client.put(
        "/api/v1/roster/orgs/o-1", content=body.encode(), headers=_admin_headers(container, tenant)
    )

    _assert_body_too_large(response, limit)


def _string_properties(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The free-text strings of a property's schema (not dates, enums or a decimal's string)."""
    options = schema.get("anyOf", [schema])
    if any(option.get("type") == "number" for option in options):
        return  # a Decimal: a number or its string form
    for option in options:
        is_free_text = option.get("type") == "string" and not option.keys() & {"enum", "const"}
        if is_free_text and option.get("format") not in ("date", "date-time"):
            yield where, option
        if "items" in option:
            yield from _string_properties(option["items"], f"{where}[]")


#: The input shapes of api/models.py (the wire shapes of commands), by name.
_COMMAND_SHAPES = {
    name
    for name, kind in vars(models).items()
    if isinstance(kind, type) and issubclass(kind, models.Shape) and kind is not models.Shape
}


def test_the_openapi_gives_every_text_field_of_a_command_a_maximum(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()

    schemas = openapi["components"]["schemas"]
    shapes = {n: s for n, s in schemas.items() if n in _COMMAND_SHAPES}
    texts = [
        (f"{name}.{field}{where}", schema)
        for name, shape in shapes.items()
        for field, property_schema in shape.get("properties", {}).items()
        for where, schema in _string_properties(property_schema, "")
    ]

    assert len(shapes) >= 10 and len(texts) > 50
    assert [where for where, schema in texts if "maxLength" not in schema] == []
    properties = {n: s["properties"] for n, s in shapes.items()}
    assert properties["UserIn"]["givenName"]["maxLength"] == 256
    assert properties["AcademicSessionIn"]["title"]["maxLength"] == 1024
    assert properties["LineItemIn"]["description"]["anyOf"][0]["maxLength"] == 4096


# The middleware itself, on a request that streams in chunks: it reads no further than it
# must, and the app never sees a refused body.


class _StreamedRequest:
    """An endless stream of 16 KiB chunks, optionally declaring a Content-Length."""

    def __init__(self, content_length: int | None) -> None:
        headers = [] if content_length is None else [(b"content-length", b"%d" % content_length)]
        self.scope: Scope = {"type": "http", "method": "PUT", "path": "/", "headers": headers}
        self.chunks_read = 0
        self.sent: list[Message] = []
        self.app_called = False

    async def receive(self) -> Message:
        self.chunks_read += 1
        return {"type": "http.request", "body": b"x" * 16384, "more_body": True}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.app_called = True


def _serve(request: _StreamedRequest, max_bytes: int) -> int:
    middleware = BodyTooLarge(request.app, max_bytes=max_bytes)
    asyncio.run(middleware(request.scope, request.receive, request.send))
    return int(request.sent[0]["status"])


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    request = _StreamedRequest(content_length=None)

    status = _serve(request, max_bytes=64 * 1024)

    assert status == 413
    assert request.chunks_read == 5  # 4 × 16 KiB fit; the fifth passes the limit
    assert not request.app_called


def test_a_content_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    request = _StreamedRequest(content_length=50 * MB)

    status = _serve(request, max_bytes=64 * 1024)

    assert status == 413
    assert request.chunks_read == 0
    assert not request.app_called
