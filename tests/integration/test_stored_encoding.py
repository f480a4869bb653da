"""The relay's fast path: a message made straight from a stored record is the message made
from its domain event — topic, key, value bytes and headers alike."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

from domain.application import TenantApplication
from domain.commands import Actor, PutOrg, PutUser
from domain.roster import Role
from streams.codec import EventCodec, _uuid_text
from streams.schemas import default_registry
from streams.stored_rows import read_page


@given(st.uuids())
def test_a_stored_uuid_reads_as_the_uuid_prints(value: UUID) -> None:
    assert _uuid_text(value.hex) == str(value)
    assert _uuid_text(value.hex.upper()) == str(value)


def test_messages_made_from_stored_records_equal_those_made_from_events(
    app: TenantApplication,
) -> None:
    admin = Actor(app.tenant, "admin", "a")
    app.put_org(admin, PutOrg("sch-1", "active", "Koulu", "school", "1", None))
    for number, email in enumerate(["aino@example.invalid", "eero@example.invalid"]):
        put = PutUser(
            sourced_id=f"stu-{number}",
            status="active",
            enabled=True,
            roles=[Role(role_type="primary", role="student", org="sch-1")],
            primary_org="sch-1",
            grades=["04"],
            guardians=[],
            personal={"givenName": "Äänis", "familyName": f"Ö{number}", "email": email},
        )
        app.put_user(admin, put)
        app.put_user(admin, PutUser(**{**put.__dict__, "personal": {**put.personal, "x": 1}}))
    codec = EventCodec(default_registry(), topic_prefix="t", partitions=3)
    rows = read_page(app, 1, 100)
    notifications = app.recorder.select_notifications(start=1, limit=100)

    assert len(rows) == len(notifications) >= 5
    for (position, aggregate_id, version, topic, state), notification in zip(
        rows, notifications, strict=True
    ):
        fast = codec.encode_stored(app.tenant, position, topic, aggregate_id, version, state)
        event = cast(Aggregate.Event, app.mapper.to_domain_event(notification))
        slow = codec.encode(app.tenant, position, event)
        assert (fast.topic, fast.key, fast.value) == (slow.topic, slow.key, slow.value)
        assert list(fast.headers) == list(slow.headers)
