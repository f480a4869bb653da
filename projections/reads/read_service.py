"""What every read service is built from: its projection, the read models' database, the
disclosure log its reads record in, and the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

from domain.commands import Actor
from projections.reads.disclosures import DisclosureLog

__all__ = ["ReadService"]

ProjectionT = TypeVar("ProjectionT")


@dataclass(frozen=True, kw_only=True)
class ReadService(Generic[ProjectionT]):
    """The parts a read service works with; each service adds its reads as methods."""

    engine: Engine
    #: The projection it reads: the catalogue's instance, whose tables the runner writes.
    projection: ProjectionT
    disclosures: DisclosureLog
    clock: Callable[[], datetime]

    def disclose(
        self,
        actor: Actor,
        *,
        subjects: Iterable[str],
        categories: Iterable[str],
        basis: str,
        at: datetime | None = None,
    ) -> None:
        """Records that `actor` received `categories` of each subject's data on `basis`
        (at `at`, default now); call it after reading and before answering, as
        DisclosureNotRecordedError then means the answer must not be sent."""
        self.disclosures.record(
            tenant=actor.tenant,
            subjects=subjects,
            recipient=actor.subject,
            recipient_role=actor.role,
            categories=categories,
            basis=basis,
            at=at or self.clock(),
        )
