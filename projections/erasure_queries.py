"""Reads of the projections' erasure confirmations: which read models carried out an erasure.

Each projection taking part in erasure (projections/erasure.py) records in its own
confirmations table when it blanked what it derived from the subject; the erasure receipt
shows, per projection, that time or that it has not confirmed yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["ConfirmsErasures", "ErasureConfirmation", "erasure_confirmations"]


@runtime_checkable
class ConfirmsErasures(Protocol):
    """A projection that takes part in erasure: it has a confirmations table."""

    name: str
    confirmations: sa.Table


@dataclass(frozen=True)
class ErasureConfirmation:
    """When one projection carried out an erasure; None while it has not."""

    projection: str
    confirmed_at: datetime | None


def erasure_confirmations(
    connection: Connection, projections: Iterable[object], *, tenant: str, erasure_id: str
) -> list[ErasureConfirmation]:
    """When each of the projections that take part in erasure confirmed the erasure, in the
    order given.

    A projection that never ran has no confirmations table yet: then none reads as
    confirmed, and the connection's transaction, which the failed read ended, is rolled back.
    """
    confirming = [p for p in projections if isinstance(p, ConfirmsErasures)]
    times: list[datetime | None] = []
    try:
        for p in confirming:
            table = p.confirmations
            row = connection.execute(
                sa.select(table.c.confirmed_at).where(
                    table.c.tenant == tenant, table.c.erasure_id == erasure_id
                )
            ).first()
            times.append(None if row is None else row[0])
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        connection.rollback()
        times = [None] * len(confirming)
    return [
        ErasureConfirmation(projection=p.name, confirmed_at=t)
        for p, t in zip(confirming, times, strict=True)
    ]
