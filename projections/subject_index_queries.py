"""Reads of the subject index: which aggregates concern a data subject, for their export.

`aggregates_of` answers from the tables SubjectIndexProjection keeps
(projections/subject_index.py), with a connection and the projection, whose tables it
reads; the right-of-access export (GDPR art. 15) then loads each aggregate from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections.subject_index import SubjectIndexProjection

__all__ = ["IndexedAggregate", "aggregates_of"]


@dataclass(frozen=True)
class IndexedAggregate:
    """One aggregate concerning a subject, and the store positions of its events known so far."""

    kind: str
    aggregate_id: UUID
    #: aggregate version → store position, for the events this read model has applied.
    positions: dict[int, int] = field(default_factory=dict)


def aggregates_of(
    connection: Connection, projection: SubjectIndexProjection, *, tenant: str, subject: str
) -> list[IndexedAggregate]:
    """The aggregates concerning `subject`, with their events' positions (one SELECT)."""
    s, p = projection.subjects, projection.positions
    rows = connection.execute(
        sa.select(s.c.kind, s.c.aggregate_id, p.c.version, p.c.position)
        .select_from(
            s.outerjoin(p, sa.and_(p.c.tenant == s.c.tenant, p.c.aggregate_id == s.c.aggregate_id))
        )
        .where(s.c.tenant == tenant, s.c.subject == subject)
    )
    found: dict[tuple[str, str], IndexedAggregate] = {}
    for kind, aggregate_id, version, position in rows:
        indexed = found.setdefault((kind, aggregate_id), IndexedAggregate(kind, UUID(aggregate_id)))
        if version is not None:
            indexed.positions[int(version)] = int(position)
    return list(found.values())
