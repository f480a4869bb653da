"""What every read service is built from: its projection, the read models' database, the
disclosure log its reads record in, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

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
