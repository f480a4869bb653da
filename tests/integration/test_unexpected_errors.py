"""An error nobody foresaw answers 500 problem details without internals, logged safely."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container

SECRET = "Aino Virtanen, aino@example.invalid"


def _boom() -> None:
    try:
        raise ValueError(f"could not store {SECRET}")
    except ValueError as error:
        raise RuntimeError(f"handler failed on {SECRET}") from error


def test_an_unexpected_error_answers_500_problem_details_and_logs_no_value(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(container)
    app.add_api_route("/api/v1/boom", _boom, methods=["POST"])
    caplog.set_level(logging.INFO)

    with TestClient(app) as client:
        response = client.post("/api/v1/boom", json={"givenName": "Aino"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:digione:problem:internal-error"
    assert "Aino" not in response.text and "Traceback" not in response.text
    assert "_boom" in caplog.text and "RuntimeError" in caplog.text  # the frames are logged
    assert "Aino" not in caplog.text


def _database_away() -> None:
    import sqlalchemy as sa

    raise sa.exc.OperationalError("SELECT 1", {}, ConnectionError("connection refused"))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("fail", "status", "minor"),
    [(_boom, 500, "internal_server_error"), (_database_away, 503, "server_busy")],
)
def test_an_unexpected_error_on_a_oneroster_path_answers_in_the_status_info_format(
    container: Container, fail: object, status: int, minor: str
) -> None:
    app = create_app(container)
    app.add_api_route("/ims/oneroster/rostering/v1p2/boom", fail, methods=["GET"])  # type: ignore[arg-type]

    with TestClient(app) as client:
        response = client.get("/ims/oneroster/rostering/v1p2/boom")

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["imsx_codeMajor"] == "failure" and body["imsx_severity"] == "error"
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == minor
    assert "Aino" not in response.text and "Traceback" not in response.text
    assert (status == 503) == ("Retry-After" in response.headers)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_oversized_request_on_a_oneroster_path_is_refused_in_the_status_info_format(
    container: Container,
) -> None:
    app = create_app(container)
    too_long = "x" * (container.settings.max_header_bytes + 1)

    with TestClient(app) as client:
        response = client.get(f"/ims/oneroster/rostering/v1p2/users?filter={too_long}")

    assert response.status_code == 414
    assert response.json()["imsx_codeMajor"] == "failure"
