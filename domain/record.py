"""What every roster and gradebook record shares: a sourcedId and a OneRoster status."""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate

ACTIVE = "active"
TO_BE_DELETED = "tobedeleted"


class SourcedRecord(Aggregate):
    """An aggregate named by a sourcedId of its tenant; OneRoster status active/tobedeleted."""

    sourced_id: str
    status: str = ACTIVE
    #: The name of the nested event that creates the aggregate (past tense of its origin).
    created_event_name = "Registered"

    class MarkedForDeletion(Aggregate.Event):
        """The source system marked the record `tobedeleted` (OneRoster never hard-deletes)."""

        def apply(self, aggregate: Any) -> None:
            aggregate.status = TO_BE_DELETED

    class Reactivated(Aggregate.Event):
        """A record marked `tobedeleted` was made `active` again by its source system."""

        def apply(self, aggregate: Any) -> None:
            aggregate.status = ACTIVE

    @classmethod
    def register(cls, aggregate_id: UUID, **fields: Any) -> Self:
        """Creates the aggregate with its deterministic id (see `domain.ids.aggregate_id`)."""
        created: type[Aggregate.Created] = getattr(cls, cls.created_event_name)
        return cls._create(created, id=aggregate_id, **fields)

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def mark_for_deletion(self) -> None:
        if self.status != TO_BE_DELETED:
            # type(self) so the event is the subclass's own (Org.MarkedForDeletion, …).
            self.trigger_event(type(self).MarkedForDeletion)

    def reactivate(self) -> None:
        if self.status != ACTIVE:
            self.trigger_event(type(self).Reactivated)

    def set_status(self, status: str) -> None:
        """Applies a OneRoster `status` from an incoming record."""
        if status == TO_BE_DELETED:
            self.mark_for_deletion()
        else:
            self.reactivate()
