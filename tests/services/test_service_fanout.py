"""Services subscribe to events: each service's topic holds what its agreement and the
families' consents allow, and nothing else (real broker, real database)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from api.oneroster.clients_cli import create_client, update_client
from api.runtime import Runtime
from api.settings import Settings
from domain.commands import Actor
from projections.reads.disclosures import disclosures
from streams.broker import free_loopback_port
from streams.fanout import wait_caught_up
from streams.kafka_transport import ReceivedMessage, read_topic
from streams.service_reader import decode_service_message
from streams.service_view import open_personal_data, service_topic
from tests.builders import School, a_school, a_user, an_assessment, put
from tests.processes import ROOT, environment


def _topic(container: Container, tenant: str, service: str) -> str:
    return service_topic(container.settings.topic_prefix, tenant, service)


def _read(container: Container, tenant: str, service: str) -> list[ReceivedMessage]:
    topic = _topic(container, tenant, service)
    reader_bootstrap = container.runtime.bootstrap
    try:
        return read_topic(reader_bootstrap, topic, silence_seconds=0.5)
    except LookupError:
        return []


def _decoded(container: Container, tenant: str, service: str) -> list[dict[str, Any]]:
    registry = container.codec.registry
    return [decode_service_message(registry, m) for m in _read(container, tenant, service)]


def _wait_for(container: Container, tenant: str, service: str, what: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        messages = _decoded(container, tenant, service)
        if what(messages):
            return messages
        time.sleep(0.2)
    raise AssertionError(f"{service}'s topic never held what was awaited: {messages[-3:]}")


def _fanout_caught_up(container: Container, tenant: str) -> None:
    """Waits until the fan-out has routed every event in the store (its recorded positions
    reach what the relay published, up to the store's head): what it would still deliver
    is on the topics then."""
    head = container.tenants.get(tenant).head_position()
    assert wait_caught_up(container.engine, tenant, head, timeout_seconds=30), (
        f"the fan-out never routed {tenant}'s events up to {head}"
    )


def _all_delivered(
    container: Container, tenant: str, service: str, *, seen: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Everything on the service's topic once the fan-out has routed the whole store. A read
    ends at a pause of the broker (its silence), so one that holds fewer messages than
    `seen` (a topic only grows) stopped early and is read again."""
    _fanout_caught_up(container, tenant)
    return _wait_for(container, tenant, service, lambda ms: len(ms) >= len(seen))


def _opened(container: Container, tenant: str, service: str) -> list[dict[str, str]]:
    """The personal fields sealed for the service, opened with its keys as they are now."""
    app = container.tenants.get(tenant)
    opened = []
    for m in _decoded(container, tenant, service):
        sealed = m["data"].get("sealed_personal_data")
        if sealed:
            key = app.service_view_key(service, m["data"]["data_subject"], create=False)
            assert key is not None, f"the key of {m['data']['data_subject']} is destroyed"
            raw = {**sealed, "nonce": bytes.fromhex(sealed["nonce"]),
                   "ciphertext": bytes.fromhex(sealed["ciphertext"])}  # fmt: skip
            opened.append(open_personal_data(key, raw))
    return opened


def _token(client: TestClient, created: dict[str, str]) -> dict[str, str]:
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["eventType"].endswith("assessment.result.recorded.v1")]


def _sealed_user_data(messages: list[dict[str, Any]], subject: str) -> list[dict[str, Any]]:
    """The sealed personal data of `subject`'s roster user events among `messages`."""
    return [
        m["data"]["sealed_personal_data"]
        for m in messages
        if m["data"]["data_subject"] == subject
        and ".roster.user." in m["eventType"]
        and m["data"].get("sealed_personal_data")
    ]


def _grant(
    client: TestClient,
    school: School,
    recipient: str,
    categories: list[str],
    purposes: tuple[str, ...] = ("learning-app",),
) -> str:
    granted = client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={"student": "stu-1", "grantedBy": "grd-1", "recipient": recipient,
              "purposes": list(purposes), "categories": categories},
    )  # fmt: skip
    assert granted.status_code == 201, granted.text
    consent_id: str = granted.json()["consentId"]
    return consent_id


def test_a_consent_based_service_sees_the_consented_students_results_and_not_a_classmates(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    school = a_school(client, container, tenant)
    create_client(container, tenant=tenant, name="learnapp", scopes=["roster.readonly"],
                  categories=["identity"], basis="consent", schools=[],
                  events=["assessment.result.recorded", "roster.user"], purpose="learning-app")  # fmt: skip
    _grant(client, school, "learnapp", ["assessment", "roster", "identity"])
    for student in ("stu-1", "stu-2"):
        posted = client.post(
            "/api/v1/assessments", headers=school.teacher, json=an_assessment(student=student)
        )
        assert posted.status_code == 201

    messages = _wait_for(container, tenant, "learnapp", lambda ms: _results(ms))
    messages = _all_delivered(container, tenant, "learnapp", seen=messages)

    results = _results(messages)
    assert [r["data"]["data_subject"] for r in results] == ["stu-1"]
    assert results[0]["data"]["grade"] == "9"
    assert "comment" not in results[0]["data"]  # the sealed field itself never goes
    assert all(m["data"].get("data_subject") != "stu-2" for m in messages)
    # The record of disclosures lists the delivery, by the service's client id.
    with container.engine.connect() as c:
        rows = c.execute(
            sa.select(disclosures.c.subject, disclosures.c.recipient, disclosures.c.category).where(
                disclosures.c.tenant == tenant
            )
        ).all()
    assert ("stu-1", f"learnapp@{tenant}", "assessment") in [tuple(r) for r in rows]
    assert not [r for r in rows if r[0] == "stu-2" and r[1].startswith("learnapp@")]


def test_revoking_the_consent_sends_a_forget_notice_and_stops_delivery(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    school = a_school(client, container, tenant)
    create_client(container, tenant=tenant, name="learnapp", scopes=["roster.readonly"],
                  categories=[], basis="consent", schools=[],
                  events=["assessment"], purpose="learning-app")  # fmt: skip
    consent = _grant(client, school, "learnapp", ["assessment"])
    # A consent for another purpose is no basis for a service whose agreement is for
    # learning-app: it keeps nothing flowing once the learning-app consent is revoked.
    _grant(client, school, "learnapp", ["assessment"], purposes=("research",))
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment())
    _wait_for(container, tenant, "learnapp", lambda ms: _results(ms))

    revoked = client.delete(f"/api/v1/consents/{consent}", headers=school.guardian)
    assert revoked.status_code in (200, 204), revoked.text
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment(grade="10"))
    messages = _wait_for(
        container,
        tenant,
        "learnapp",
        lambda ms: any(m["eventType"].endswith("forget_subject.v1") for m in ms),
    )
    messages = _all_delivered(container, tenant, "learnapp", seen=messages)

    kinds = [m["eventType"].rsplit(".", 2)[-2] for m in messages]
    forget = next(m for m in messages if m["eventType"].endswith("forget_subject.v1"))
    assert forget["data"]["subject"] == "stu-1"
    assert forget["data"]["reason"] == "consent revoked"
    assert forget["data"]["categories"] == ["assessment"]
    # Nothing of stu-1 after the notice: the result recorded after revoking never came.
    assert kinds[-1] == "forget_subject"
    assert [r["data"]["grade"] for r in _results(messages)] == ["9"]


def test_a_category_the_agreement_lacks_never_appears_in_the_topic_in_any_form(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    marker = uuid.uuid4().hex[:8]
    given, family = f"Ainomaija{marker}", f"Zetterqvist{marker}"
    # Statutory, with contact but not identity: the student's names must never go, neither
    # in clear nor inside what is sealed for it. (An agreement covers what is recorded once
    # it is made, so it comes first.)
    create_client(container, tenant=tenant, name="timetable", scopes=["roster.readonly"],
                  categories=["contact"], basis="statutory", schools=[],
                  events=["roster"])  # fmt: skip
    create_client(container, tenant=tenant, name="namesapp", scopes=["roster.readonly"],
                  categories=["identity"], basis="statutory", schools=[],
                  events=["roster.user"], delivery="clear")  # fmt: skip
    a_school(client, container, tenant, student_name=(given, family))

    named = _wait_for(
        container, tenant, "namesapp",
        lambda ms: any(given in v for m in ms for v in m["data"].get("personal_data", {}).values()),
    )  # fmt: skip
    _wait_for(container, tenant, "timetable", lambda ms: len(ms) > 5)
    _fanout_caught_up(container, tenant)

    raw = _read(container, tenant, "timetable")
    everything = b"".join((m.value or b"") + (m.key or b"") for m in raw)
    opened = _opened(container, tenant, "timetable")
    assert raw and given.encode() not in everything and family.encode() not in everything
    assert any("stu-1@example.invalid" in v for p in opened for v in p.values())
    assert not [p for p in opened if any(given in v or family in v for v in p.values())]
    assert not [k for p in opened for k in p if k.startswith("personal.given")]
    assert any(m["data"].get("data_subject") == "stu-1" for m in named)


def test_an_ended_agreement_stops_everything_and_tells_the_service_to_forget(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    school = a_school(client, container, tenant)
    create_client(container, tenant=tenant, name="learnapp", scopes=["roster.readonly"],
                  categories=[], basis="statutory", schools=[],
                  events=["assessment"])  # fmt: skip
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment())
    _wait_for(container, tenant, "learnapp", lambda ms: _results(ms))

    app = container.tenants.get(tenant)
    key_before = app.service_view_key("learnapp", "stu-1", create=True)
    app.end_agreement(Actor(tenant, "admin", "test"), "learnapp")
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment(student="stu-2"))
    messages = _wait_for(
        container, tenant, "learnapp",
        lambda ms: any(m["eventType"].endswith("forget_subject.v1") for m in ms),
    )  # fmt: skip
    messages = _all_delivered(container, tenant, "learnapp", seen=messages)

    assert [r["data"]["data_subject"] for r in _results(messages)] == ["stu-1"]
    # Whatever it was sent sealed is shredded with the agreement.
    assert key_before is not None
    assert app.service_view_key("learnapp", "stu-1", create=False) is None
    forget = [m["data"] for m in messages if m["eventType"].endswith("forget_subject.v1")]
    assert forget == [
        {**forget[0], "subject": "stu-1", "reason": "agreement ended", "categories": ["all"]}
    ]


def test_the_http_pull_returns_the_same_sequence_as_the_topic(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    created = create_client(container, tenant=tenant, name="nokafka", scopes=["roster.readonly"],
                            categories=["identity"], basis="statutory", schools=[],
                            events=["assessment", "roster.user"])  # fmt: skip
    school = a_school(client, container, tenant)
    for grade in ("7", "8", "9"):
        client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment(grade=grade))
    _wait_for(container, tenant, "nokafka", lambda ms: len(_results(ms)) == 3)
    _fanout_caught_up(container, tenant)
    topic = _decoded(container, tenant, "nokafka")
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    pulled: list[dict[str, Any]] = []
    after = -1
    while True:
        page = client.get(
            "/api/v1/services/me/events",
            params={"after": after, "limit": 2, "wait": 0.2},
            headers=headers,
        )
        assert page.status_code == 200, page.text
        if not page.json()["events"]:
            break
        pulled.extend(page.json()["events"])
        after = page.json()["next"]
    bad = client.get("/api/v1/services/me/events", params={"limit": 0}, headers=headers)
    anonymous = client.get("/api/v1/services/me/events")

    assert len(topic) > 3 and pulled == topic
    assert bad.status_code == 422 and anonymous.status_code == 401


def test_an_erasure_sends_a_forget_notice_and_the_services_sealed_copy_no_longer_opens(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    marker = uuid.uuid4().hex[:8]
    given = f"Ilmari{marker}"
    created = create_client(container, tenant=tenant, name="learnapp", scopes=["roster.readonly"],
                            categories=["identity"], basis="statutory", schools=[],
                            events=["assessment", "roster.user"])  # fmt: skip
    school = a_school(client, container, tenant, student_name=(given, "Oppilas"))
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment())
    before = _wait_for(
        container, tenant, "learnapp",
        # stu-1's own user event: users' events come on partitions of their own, so
        # another user's may arrive first.
        lambda ms: _results(ms) and _sealed_user_data(ms, "stu-1"),
    )  # fmt: skip
    headers = _token(client, created)
    key = client.get("/api/v1/services/me/keys", params={"subject": "stu-1"}, headers=headers)
    sealed = _sealed_user_data(before, "stu-1")[0]
    sealed = {**sealed, "nonce": bytes.fromhex(sealed["nonce"]),
              "ciphertext": bytes.fromhex(sealed["ciphertext"])}  # fmt: skip

    accepted = client.post(
        "/api/v1/erasures", headers=school.admin, json={"subject": "stu-1", "reason": "pyyntö"}
    )
    assert accepted.status_code == 202, accepted.text
    refused = client.get("/api/v1/services/me/keys", params={"subject": "stu-1"}, headers=headers)
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment(grade="5"))
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment(student="stu-2"))
    messages = _wait_for(
        container, tenant, "learnapp",
        lambda ms: any(r["data"]["data_subject"] == "stu-2" for r in _results(ms)),
    )  # fmt: skip

    assert key.status_code == 200, key.text
    assert given in json.dumps(open_personal_data(base64.b64decode(key.json()["key"]), sealed))
    assert refused.status_code == 410, refused.text
    assert container.tenants.get(tenant).service_view_key("learnapp", "stu-1", create=False) is None
    raw = b"".join(m.value or b"" for m in _read(container, tenant, "learnapp"))
    assert given.encode() not in raw
    forget = [m for m in messages if m["eventType"].endswith("forget_subject.v1")]
    assert [(f["data"]["subject"], f["data"]["reason"]) for f in forget] == [("stu-1", "erasure")]
    after = messages[messages.index(forget[0]) + 1 :]
    assert not [m for m in after if m["data"].get("data_subject") == "stu-1"]
    assert [
        r["data"]["grade"] for r in _results(messages) if r["data"]["data_subject"] == "stu-1"
    ] == ["9"]


# The same code whatever stores the events: one backend is enough.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_the_example_subscriber_unseals_events_and_deletes_on_a_forget_notice(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, runtime = running
    created = create_client(container, tenant=tenant, name="learnapp", scopes=["roster.readonly"],
                            categories=[], basis="consent", schools=[], events=["assessment"],
                            purpose="learning-app")  # fmt: skip
    school = a_school(client, container, tenant)
    consent = _grant(client, school, "learnapp", ["assessment"])
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment())
    _wait_for(container, tenant, "learnapp", lambda ms: _results(ms))
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    process = None
    try:
        while not server.started:
            time.sleep(0.05)
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "subscriber.py"),
             "--bootstrap", runtime.bootstrap, "--api", f"http://127.0.0.1:{port}",
             "--tenant", tenant, "--service", "learnapp",
             "--client-id", created["client_id"], "--client-secret", created["client_secret"],
             "--prefix", container.settings.topic_prefix, "--max-messages", "2", "--kafka-api-version", "2.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        first = process.stdout.readline()
        client.delete(f"/api/v1/consents/{consent}", headers=school.guardian)
        out, err = process.communicate(timeout=90)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        server.should_exit = True
        thread.join(10)

    assert process.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in [first, *out.splitlines()]]
    assert lines[0]["event"].endswith("assessment.result.recorded.v1")
    assert lines[0]["subject"] == "stu-1"
    assert lines[0]["personal"] == {"comment.comment": json.dumps("Hyvää työtä murtoluvuissa.")}
    assert lines[1] == {
        "forget": "stu-1", "reason": "consent revoked", "categories": ["assessment"], "deleted": 1
    }  # fmt: skip


def test_a_narrowed_agreement_sends_forget_notices_and_drops_the_category_from_then_on(
    running: tuple[TestClient, Runtime], container: Container, tenant: str
) -> None:
    client, _ = running
    create_client(container, tenant=tenant, name="namesapp", scopes=["roster.readonly"],
                  categories=["identity"], basis="statutory", schools=[],
                  events=["roster.user"])  # fmt: skip
    school = a_school(client, container, tenant)
    _wait_for(
        container, tenant, "namesapp",
        lambda ms: any(m["data"]["data_subject"] == "stu-1" for m in ms),
    )  # fmt: skip

    update_client(container, tenant=tenant, name="namesapp", categories=[])
    put(client, school.admin, "users", "stu-1", "user",
        a_user("stu-1", "student", given="Uusinimi", family="Oppilas", agents=("grd-1",)))  # fmt: skip
    messages = _wait_for(
        container, tenant, "namesapp",
        lambda ms: any("forget_subject" in m["eventType"] for m in ms)
        and ms[-1]["data"].get("data_subject") == "stu-1",
    )  # fmt: skip

    forget = [m["data"] for m in messages if "forget_subject" in m["eventType"]]
    assert {(f["subject"], f["reason"]) for f in forget} >= {("stu-1", "agreement narrowed")}
    assert all(f["categories"] == ["identity"] for f in forget)
    after = messages[messages.index(next(m for m in messages if "forget" in m["eventType"])) :]
    assert not [m for m in after if m["data"].get("personal_data")]


# The same code whatever stores the events: one backend is enough.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_digione_subscribe_prints_the_services_events_and_what_a_forget_notice_dropped(
    running: tuple[TestClient, Runtime], container: Container, tenant: str, settings: Settings
) -> None:
    client, runtime = running
    create_client(container, tenant=tenant, name="learnapp", scopes=["roster.readonly"],
                  categories=[], basis="consent", schools=[], events=["assessment"],
                  purpose="learning-app")  # fmt: skip
    school = a_school(client, container, tenant)
    consent = _grant(client, school, "learnapp", ["assessment"])
    client.post("/api/v1/assessments", headers=school.teacher, json=an_assessment())
    _wait_for(container, tenant, "learnapp", lambda ms: _results(ms))
    client.delete(f"/api/v1/consents/{consent}", headers=school.guardian)
    _wait_for(
        container, tenant, "learnapp",
        lambda ms: any(m["eventType"].endswith("forget_subject.v1") for m in ms),
    )  # fmt: skip
    env = environment(settings)
    env["DIGIONE_KAFKA_BOOTSTRAP"] = runtime.bootstrap
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "subscribe", "learnapp", "--tenant", tenant,
         "--from-beginning"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(2)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    assert lines[0]["eventType"].endswith("assessment.result.recorded.v1")
    assert lines[0]["data"]["data_subject"] == "stu-1"
    assert lines[0]["data"]["personal_data"] == {
        "comment.comment": json.dumps("Hyvää työtä murtoluvuissa.")
    }
    assert lines[1]["forgot"] == {"subject": "stu-1", "events": 1}
