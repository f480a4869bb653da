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
