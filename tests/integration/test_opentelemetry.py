"""FastAPI's native OpenTelemetry (a span per request to the globally configured tracer
provider) is off unless DIGIONE_OPENTELEMETRY asks for it: looking for the providers on
every request cost 3% of the HTTP process's GIL time with none configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from api.app import create_app
from api.bootstrap import bootstrap
from api.settings import Settings


class _RecordingTracer(trace.NoOpTracer):
    def __init__(self, spans: list[str]) -> None:
        self.spans = spans

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.spans.append(name)
        return super().start_span(name, *args, **kwargs)


class _RecordingProvider(trace.TracerProvider):
    """A tracer provider an operator's OpenTelemetry SDK would configure, recording the
    names of the spans started."""

    def __init__(self) -> None:
        self.spans: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _RecordingTracer(self.spans)


def _spans_of_a_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> list[str]:
    provider = _RecordingProvider()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # restored after the test
    container = bootstrap(Settings.explicit(data_dir=tmp_path / "var", **options))
    try:
        answer = TestClient(create_app(container)).get("/livez")
    finally:
        container.close()
    assert answer.status_code == 200
    return provider.spans


def test_requests_make_no_opentelemetry_spans_unless_the_setting_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _spans_of_a_request(tmp_path / "off", monkeypatch) == []


def test_with_the_setting_each_request_makes_spans_of_the_configured_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = _spans_of_a_request(tmp_path / "on", monkeypatch, opentelemetry=True)

    assert spans[0] == "GET"  # the request's span; then FastAPI's spans of its operations
    assert "fastapi.dependencies" in spans
