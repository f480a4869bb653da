"""The service view of events and the selectors of a subscription (pure logic)."""

from __future__ import annotations

import http.server
import importlib.util
import os
import threading
import urllib.error
from types import ModuleType
from typing import ClassVar

import pytest
from cryptography.exceptions import InvalidTag

from domain.agreement_commands import event_selectors
from domain.errors import InvalidValueError
from streams.event_types import by_type_name
from streams.schemas import default_registry
from streams.service_basis import AgreementTerms
from streams.service_view import (
    FORGET_TYPE,
    open_personal_data,
    seal_personal_data,
    service_type_name,
)
from tests.processes import ROOT

KNOWN = frozenset(by_type_name())


def test_the_service_view_of_an_event_has_no_sealed_field_but_its_subject_and_allowed_fields() -> (
    None
):
    registry = default_registry()
    original = registry.current("fi.digione.roster.user.registered.v1").schema
    view = registry.current(service_type_name("fi.digione.roster.user.registered.v1")).schema

    names = [f["name"] for f in view["fields"]]
    assert "personal" in [f["name"] for f in original["fields"]]
    assert "personal" not in names and "Sealed" not in str(view)
    assert names[-3:] == ["data_subject", "personal_data", "sealed_personal_data"]
    assert view["namespace"] == "fi.digione.service.roster.user.registered"


def test_every_service_view_and_the_forget_notice_are_published_with_the_schemas() -> None:
    published = {r.type_name for r in default_registry().all()}

    assert FORGET_TYPE in published
    assert service_type_name("fi.digione.assessment.result.recorded.v1") in published
    assert service_type_name("fi.digione.privacy.erasure.personal_data_erased.v1") not in published


def test_selectors_take_families_aggregates_and_types_and_refuse_the_backbones_own() -> None:
    assert event_selectors(["roster.user", "assessment", "assessment"], KNOWN) == [
        "assessment",
        "roster.user",
    ]
    for wrong in (["privacy"], ["consent.consent"], ["assessment.result.nosuch"], ["Roster"]):
        with pytest.raises(InvalidValueError):
            event_selectors(wrong, KNOWN)


def test_terms_cover_the_selected_families_aggregates_and_types_only_while_in_force() -> None:
    terms = AgreementTerms(1, "app", "app@t", "statutory", (), (), ("roster.user", "attainment"))

    assert terms.covers("fi.digione.roster.user.registered.v1")
    assert terms.covers("fi.digione.attainment.objective_attainment.assessed.v1")
    assert not terms.covers("fi.digione.roster.class.registered.v1")
    assert not terms.covers("fi.digione.assessment.result.recorded.v1")
    ended = AgreementTerms(2, "app", "app@t", "statutory", (), (), ("attainment",), ended=True)
    assert not ended.covers("fi.digione.attainment.objective_attainment.assessed.v1")


def _example_subscriber() -> ModuleType:
    spec = importlib.util.spec_from_file_location("subscriber", ROOT / "examples" / "subscriber.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_vendor_opens_sealed_personal_data_with_its_key_and_with_no_other() -> None:
    key, other = os.urandom(32), os.urandom(32)
    personal = {"personal.givenName": '"Aino"'}

    sealed = seal_personal_data(key, "vantaa/learnapp/stu-1", personal)

    assert b"Aino" not in sealed["ciphertext"]
    assert _example_subscriber().unseal(sealed, key) == personal
    assert open_personal_data(key, sealed) == personal
    with pytest.raises(InvalidTag):
        open_personal_data(other, sealed)
    with pytest.raises(InvalidTag):  # the key id is bound to the ciphertext
        open_personal_data(key, {**sealed, "key_id": "vantaa/learnapp/stu-2"})


class _BusyOnce(http.server.BaseHTTPRequestHandler):
    """Answers 503 with Retry-After to the first request of a schema, then the schema; a
    key is always gone (410)."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        busy = self.path not in self.seen
        self.seen.append(self.path)
        status = 410 if "/keys" in self.path else 503 if busy else 200
        body = b'{"schema": "string"}' if status == 200 else b'{"title": "Not now"}'
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_the_example_subscriber_asks_again_when_the_backbone_answers_503() -> None:
    _BusyOnce.seen.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BusyOnce)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}"
        subscriber = _example_subscriber()
        schema = subscriber.Schemas(api).get(bytes(8))
        with pytest.raises(urllib.error.HTTPError, match="410"):
            subscriber.fetch(f"{api}/api/v1/services/me/keys?subject=stu-1")
    finally:
        server.shutdown()
        server.server_close()

    assert schema == "string"
    assert _BusyOnce.seen == [
        "/api/v1/schemas/0000000000000000",
        "/api/v1/schemas/0000000000000000",
        "/api/v1/services/me/keys?subject=stu-1",  # a refusal is not asked again
    ]
