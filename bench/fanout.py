"""Section 7, fan-out: family topics → ten services' topics, beside the relay's raw rate.

Ten services with different agreements (statutory and consent-based, sealed and clear
delivery, families, single types, schools, categories) subscribe to one tenant. Stored
assessments are published by the relay (timed: its raw rate on these very events), then the
service fan-out, started afresh, routes everything the tenant's topics hold: events in per
second (what it read, over the time until its recorded positions reach the store head) and
deliveries out per second (the messages it wrote to the service topics).

Then, with the relay (woken by each save, as in `serve`) and the fan-out running, consents
are revoked one at a time: the revocation-to-stop latency is the time from the revoke
command until the fan-out has recorded the student as forgotten for that service (its
ForgetSubject notice acknowledged by the broker; nothing of the student flows from then
on), beside the revoke command's own time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from rich.progress import Progress

from api.bootstrap import Container
from api.oneroster.clients_cli import create_client
from bench.relay import _OneTenant
from bench.roster import SCHOOL, ClassLoad, seed_tenant
from bench.timing import Load, Sample
from bench.transport import TRANSPORTS
from domain.agreements import CLEAR
from domain.application import TenantApplication
from domain.commands import Actor, GrantConsent, PutUser, RecordAssessment
from domain.roster import Role
from streams.codec import EventCodec
from streams.fanout import FanOutHandler, ServiceFanOut, fanout_subjects, wait_caught_up
from streams.kafka_transport import EventTransport, OutgoingMessage, ensure_topics
from streams.relay import Relay
from streams.schemas import default_registry

__all__ = ["SERVICES", "measure_fanout"]

_PARTITIONS = 3
_PURPOSE = "learning-app"
#: The ten services: name → (basis, categories, events, delivery, schools, purpose).
SERVICES: dict[str, tuple[str, list[str], list[str], str, list[str], str | None]] = {
    "stat-all": (
        "statutory",
        ["identity", "contact"],
        ["roster", "assessment"],
        "sealed",
        [],
        None,
    ),
    "stat-results": ("statutory", [], ["assessment.result.recorded"], CLEAR, [], None),
    "stat-school": ("statutory", [], ["assessment"], "sealed", [SCHOOL], None),
    "stat-names": ("statutory", ["identity"], ["roster.user"], CLEAR, [], None),
    "stat-attain": ("statutory", [], ["attainment"], "sealed", [], None),
    "stat-contact": ("statutory", ["contact"], ["assessment", "roster.user"], "sealed", [], None),
    "consent-sealed": ("consent", [], ["assessment"], "sealed", [], _PURPOSE),
    "consent-clear": ("consent", ["identity"], ["assessment", "roster.user"], CLEAR, [], _PURPOSE),
    "consent-other": ("consent", [], ["assessment"], "sealed", [], "research"),
    "stat-demo": ("statutory", ["demographics"], ["roster"], "sealed", [], None),
}
#: The consent-based service whose consents are revoked in the latency part.
_REVOKED = "consent-sealed"


class _Counting:
    """The fan-out's transport, counting the messages the broker acknowledged."""

    def __init__(self, inner: EventTransport) -> None:
        self.inner = inner
        self.sent = 0

    def publish(self, batch: Sequence[OutgoingMessage]) -> None:
        self.inner.publish(batch)
        self.sent += len(batch)

    def close(self) -> None:
        self.inner.close()


def measure_fanout(
    container: Container,
    tenant: str,
    *,
    bootstrap: str,
    events: int,
    revocations: int,
    progress: Progress,
) -> dict[str, dict[str, Any]]:
    """Fan-out rates in and out beside the relay's on the same events; revocation latency."""
    task = progress.add_task(
        f"fan-out to {len(SERVICES)} services, {events:,} events", total=events + revocations
    )
    classes, _ = seed_tenant(container, tenant)
    app = container.tenants.get(tenant)
    admin = Actor(tenant=tenant, role="admin", subject="bench-admin")
    consented = _guardians(app, admin, classes[0].students)
    for name, (basis, categories, selectors, delivery, schools, purpose) in SERVICES.items():
        create_client(container, tenant=tenant, name=name, scopes=["roster.readonly"],
                      categories=categories, basis=basis, schools=schools, events=selectors,
                      purpose=purpose, delivery=delivery)  # fmt: skip
    consents: dict[str, str] = {}
    for student in consented:
        for service in ("consent-sealed", "consent-clear", "consent-other"):
            consent = _grant(app, tenant, student, service)
            if service == _REVOKED:
                consents[student] = consent
    prefix = f"digionebench{uuid.uuid4().hex[:8]}"
    codec = EventCodec(default_registry(), topic_prefix=prefix, partitions=_PARTITIONS)
    relay = Relay(
        tenants=_OneTenant(app), engine=container.engine, codec=codec,
        transport_factory=lambda: TRANSPORTS["kafka-python"](bootstrap), bootstrap=bootstrap,
        topic_prefix=prefix, partitions=_PARTITIONS, epoch_check_seconds=3600.0,
    )  # fmt: skip
    counting: list[_Counting] = []

    def transport() -> EventTransport:
        counting.append(_Counting(TRANSPORTS["kafka-python"](bootstrap)))
        return counting[-1]

    def ensure_topic(topic: str) -> None:
        ensure_topics(bootstrap, [topic], 1)

    def fanout() -> ServiceFanOut:
        handler = FanOutHandler(
            engine=container.engine, tenant_ids=lambda: [tenant], app_of=lambda _t: app,
            registry=codec.registry, codec=codec, transport=transport,
            ensure_topic=ensure_topic, topic_prefix=prefix,
        )  # fmt: skip
        return ServiceFanOut(handler, codec=codec, bootstrap=bootstrap, poll_seconds=0.05)

    try:
        # Untimed: the roster, agreements and consents published and routed, the service
        # topics made.
        relay.run_once()
        warm = fanout()
        warm.start()
        _wait_routed(container, tenant, app)
        warm.stop()
        _record(app, classes, events, progress, task)
        started = time.perf_counter()
        published = relay.run_once()
        relay_seconds = time.perf_counter() - started
        before = sum(c.sent for c in counting)
        live = fanout()
        started = time.perf_counter()
        live.start()
        _wait_routed(container, tenant, app)
        fanout_seconds = time.perf_counter() - started
        delivered = sum(c.sent for c in counting) - before
        relay.start()
        try:
            revoke, stop = _revocation_latencies(
                relay, container, app, consents, revocations, progress, task
            )
        finally:
            relay.stop()
            live.stop()
    finally:
        relay.stop()
    return {
        "fanout_relay": _rate(published, relay_seconds, "events/s"),
        "fanout_in": _rate(published, fanout_seconds, "events/s"),
        "fanout_out": _rate(delivered, fanout_seconds, "deliveries/s"),
        "revocation_to_stop": stop.summary(unit="revocations/s", success="stopped"),
        "revocation_recorded": revoke.summary(unit="revocations/s", success="recorded"),
    }


def _rate(count: int, seconds: float, unit: str) -> dict[str, Any]:
    return {"count": count, "seconds": round(seconds, 3), "rate_per_s": round(count / seconds, 1),
            "unit": unit}  # fmt: skip


def _guardians(app: TenantApplication, admin: Actor, students: Sequence[str]) -> list[str]:
    """Gives each student a guardian (who grants the consents); returns the students."""
    for student in students:
        guardian = f"grd-{student}"
        app.put_user(admin, PutUser(guardian, "active", True, [Role("primary", "guardian", SCHOOL)],
                                    SCHOOL, [], [], {"givenName": "Huoltaja", "familyName": student}))  # fmt: skip
        app.put_user(admin, PutUser(student, "active", True, [Role("primary", "student", SCHOOL)],
                                    SCHOOL, [], [guardian],
                                    {"givenName": "Bench", "familyName": student,
                                     "email": f"{student}@example.invalid"}))  # fmt: skip
    return list(students)


def _grant(app: TenantApplication, tenant: str, student: str, service: str) -> str:
    guardian = f"grd-{student}"
    outcome = app.grant_consent(
        Actor(tenant=tenant, role="guardian", subject=guardian),
        GrantConsent(student, guardian, service, [_PURPOSE], ["assessment", "identity"], None),
    )
    return outcome.id


def _record(
    app: TenantApplication, classes: Sequence[ClassLoad], events: int, progress: Progress, task: Any
) -> None:
    """Stores `events` assessments with verbal comments, round the classes' students."""
    pupils = [(c.sourced_id, f"tea-{n}", s) for n, c in enumerate(classes) for s in c.students]
    for number in range(events):
        school_class, teacher, student = pupils[number % len(pupils)]
        app.record_assessment(
            Actor(tenant=app.tenant, role="teacher", subject=teacher),
            RecordAssessment(None, student, school_class, None, None, str(4 + number % 7),
                             "Hyvää työtä murtoluvuissa.", [], date.today()),
        )  # fmt: skip
        progress.advance(task)


def _wait_routed(container: Container, tenant: str, app: TenantApplication) -> None:
    head = app.head_position()
    if not wait_caught_up(container.engine, tenant, head, timeout_seconds=600):
        raise RuntimeError(f"the fan-out did not route {tenant}'s events up to {head}")


def _revocation_latencies(
    relay: Relay,
    container: Container,
    app: TenantApplication,
    consents: dict[str, str],
    count: int,
    progress: Progress,
    task: Any,
) -> tuple[Load, Load]:
    """Revokes consents one at a time; the time of the command, and until the stop."""
    revoke: list[Sample] = []
    stop: list[Sample] = []
    s = fanout_subjects
    began = time.perf_counter()
    for student in list(consents)[:count]:
        guardian = Actor(tenant=app.tenant, role="guardian", subject=f"grd-{student}")
        started = time.perf_counter()
        app.revoke_consent(guardian, consents[student])
        relay.wake()  # as `serve` does after every save
        revoke.append((time.perf_counter() - started, "recorded"))
        query = sa.select(s.c.forgotten_position).where(
            s.c.tenant == app.tenant, s.c.service == _REVOKED, s.c.subject == student
        )
        deadline = time.monotonic() + 30
        outcome = "not stopped in 30 s"
        while time.monotonic() < deadline:
            with container.engine.connect() as c:
                if c.execute(query).scalar() is not None:
                    outcome = "stopped"
                    break
            time.sleep(0.002)
        stop.append((time.perf_counter() - started, outcome))
        progress.advance(task)
    seconds = time.perf_counter() - began
    return Load(seconds, revoke), Load(seconds, stop)
