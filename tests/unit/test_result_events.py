"""Result events stored before a field was added still load (the event store keeps them)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, StoredEvent

from domain.assessment import Result
from domain.transcodings import DateAsISO, SealedValueAsDict


class _Store(Application[UUID]):
    """An in-memory store with the transcodings TenantApplication registers."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(SealedValueAsDict())


def _stored_as_version_1(event: object, app: Application[UUID]) -> StoredEvent:
    """The event as the store holds one recorded before `late` existed (class version 1)."""
    stored = app.mapper.to_stored_event(event)  # type: ignore[arg-type]
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    del state["late"]
    return dataclasses.replace(stored, state=json.dumps(state).encode())


def test_a_result_recorded_before_results_could_be_late_loads_as_not_late() -> None:
    app = _Store(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    result = Result(
        sourced_id="res-1",
        student="stu-1",
        school_class="cls-4a",
        line_item="li-1",
        score=Decimal(14),
        grade=None,
        score_status="fully graded",
        objectives=[],
        assessed_at=date(2025, 9, 1),
        assessor="tch-1",
        comment=None,
        late=True,
    )
    (recorded,) = result.collect_events()

    old = app.mapper.to_domain_event(_stored_as_version_1(recorded, app))

    assert old.late is False  # type: ignore[attr-defined]
    reloaded = old.mutate(None)  # type: ignore[attr-defined]
    assert (reloaded.score, reloaded.late) == (Decimal(14), False)


def test_a_correction_recorded_before_results_could_be_late_applies_as_not_late() -> None:
    app = _Store(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    result = Result(
        sourced_id="res-1",
        student="stu-1",
        school_class="cls-4a",
        line_item="li-1",
        score=Decimal(14),
        grade=None,
        score_status="fully graded",
        objectives=[],
        assessed_at=date(2025, 9, 1),
        assessor="tch-1",
        comment=None,
        late=True,
    )
    result.correct(
        score=Decimal(16),
        grade=None,
        score_status="fully graded",
        objectives=[],
        assessed_at=date(2025, 9, 2),
        assessor="tch-1",
        comment=None,
        late=True,
    )
    recorded, corrected = result.collect_events()

    events = [
        app.mapper.to_domain_event(_stored_as_version_1(e, app)) for e in (recorded, corrected)
    ]
    reloaded = events[1].mutate(events[0].mutate(None))  # type: ignore[attr-defined]

    assert (reloaded.score, reloaded.late) == (Decimal(16), False)
