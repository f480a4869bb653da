"""Agreement events stored before purpose and delivery existed still load (and replay)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from domain.agreements import Agreement


def _stored_as_version_1(event: object, app: Application[UUID]) -> StoredEvent:
    """The event as the store holds one recorded before `purpose` and `delivery`."""
    stored = app.mapper.to_stored_event(event)  # type: ignore[arg-type]
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    del state["purpose"], state["delivery"]
    return dataclasses.replace(stored, state=json.dumps(state).encode())


def test_an_agreement_made_and_changed_before_purposes_replays_sealed_and_without_one() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    now = datetime(2026, 3, 2, tzinfo=UTC)
    agreement = Agreement._create(
        Agreement.Made, id=uuid4(), client_id="app@t", service="app", scopes=[],
        categories=[], basis="consent", schools=[], made_at=now, made_by="cli",
        purpose="learning-app", delivery="clear",
    )  # fmt: skip
    agreement.change(scopes=[], categories=["identity"], schools=[], events=["assessment"],
                     changed_at=now, changed_by="cli", purpose="research")  # fmt: skip
    made, changed = agreement.collect_events()

    old = [app.mapper.to_domain_event(_stored_as_version_1(e, app)) for e in (made, changed)]
    replayed = old[1].mutate(old[0].mutate(None))  # type: ignore[attr-defined]

    assert (replayed.purpose, replayed.delivery) == (None, "sealed")
    assert replayed.categories == ["identity"] and replayed.events == ["assessment"]
