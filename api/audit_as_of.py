"""Point in time: a read model rebuilt from the store as it stood at a position, and what a
teacher's class dashboard, a guardian's view or a OneRoster collection showed then.

`rebuild_as_of` applies the tenant's events up to the position to a fresh instance of a
projection, in its own SQLite file (never the live read models): the projection's own
handlers, fed the events as the relay publishes them, so the read model is the one the
runner had built by then. `AuditorReads` then answers the live reads over that file, as
the auditor sees them: personal data opened only for the subjects granted to the auditor
(`digione audit grant`), the others "sealed"; what is opened is recorded as disclosed to
the auditor (not to the teacher or guardian whose view it was).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.audit_replay import StoreSource
from api.oneroster.rostering import OPERATIONS, Operation
from domain.application import TenantApplication
from domain.audit_grants import GrantedSubject
from domain.commands import Actor
from domain.errors import DomainError
from domain.sealing import Erased, SealedValue, Sealer
from projections.base import Projection, ensure_current, finish_batch
from projections.catalogue import ProjectionCatalogue
from projections.reads.class_dashboard import ClassDashboardReads
from projections.reads.disclosures import DisclosureLog
from projections.reads.guardian_view import GuardianViewReads
from projections.reads.oneroster_rostering import ClientView, RosteringReads, RosterQuery
from projections.reads.unsealing import WITHHELD, Withheld
from streams.codec import EventCodec

__all__ = [
    "AsOfError",
    "AuditorReads",
    "projection_names",
    "rebuild_as_of",
]

#: Events applied per transaction of an as-of rebuild.
BATCH = 2000


class AsOfError(DomainError):
    """Raised when a point-in-time rebuild or read is asked for something it cannot do."""


def projection_names() -> list[str]:
    return [p.name for p in ProjectionCatalogue().all]


def _projection(name: str) -> Projection:
    for projection in ProjectionCatalogue().all:
        if projection.name == name:
            return projection
    raise AsOfError(f"no projection {name!r}; use one of {', '.join(projection_names())}")


def rebuild_as_of(
    app: TenantApplication,
    codec: EventCodec,
    projection_name: str,
    *,
    position: int,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Projection, Engine]:
    """Builds the named read model as it stood at store `position` into the new SQLite
    file `out`; returns the projection and an engine over the file. `progress(done,
    position)` is called after each batch."""
    head = app.recorder.max_notification_id() or 0
    if position < 1 or position > head:
        raise AsOfError(
            f"position {position} is not in the tenant's log: give one from 1 to {head}"
        )
    if out.exists():
        raise AsOfError(f"{out} already exists: name a new file for the rebuilt read model")
    projection = _projection(projection_name)
    engine = sa.create_engine(f"sqlite:///{out}")
    ensure_current(engine, projection)
    families = set(projection.families)
    envelopes = StoreSource(app, codec).envelopes(after=0, until=position)
    done = 0
    while True:
        with engine.begin() as connection:
            applied = 0
            for envelope in envelopes:
                applied += 1
                handler = projection.handlers.get(envelope.event_type)
                if handler is not None and envelope.family in families:
                    handler(connection, envelope)
                if applied >= BATCH:
                    break
            finish_batch(projection, connection)
        done += applied
        if progress is not None:
            progress(done, position)
        if applied < BATCH:
            return projection, engine


class _GrantedSealer:
    """A tenant's sealer as an auditor may use it: only the subjects granted to them."""

    def __init__(self, sealer: Sealer, granted: Iterable[UUID]) -> None:
        self._sealer = sealer
        self._granted = frozenset(granted)

    def unseal(self, sealed: SealedValue) -> dict[str, Any] | Erased | Withheld:
        if sealed.subject not in self._granted:
            return WITHHELD
        return self._sealer.unseal(sealed)


class _AsAuditor:
    """The tenant application as the live reads use it, with the auditor's sealer."""

    def __init__(self, app: TenantApplication, sealer: _GrantedSealer) -> None:
        self._app = app
        self.sealer = sealer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class _DisclosedToAuditor(DisclosureLog):
    """Records what a live read discloses as disclosed to the auditor, under their grant,
    and only of the subjects granted to them (the others stayed sealed)."""

    def __init__(
        self, log: DisclosureLog, *, auditor: str, granted: dict[UUID, GrantedSubject]
    ) -> None:
        self._log = log
        self._auditor = auditor
        self._grants = {g.sourced_id: g.grant_id for g in granted.values()}

    def record(
        self,
        *,
        tenant: str,
        subjects: Iterable[str],
        recipient: str,
        recipient_role: str,
        categories: Iterable[str],
        basis: str,
        at: datetime | None = None,
    ) -> int:
        wanted = list(categories)
        recorded = 0
        for subject in sorted({s for s in subjects if s in self._grants}):
            recorded += self._log.record(
                tenant=tenant,
                subjects=[subject],
                recipient=self._auditor,
                recipient_role="auditor",
                categories=wanted,
                basis=f"audit grant {self._grants[subject]}",
                at=at,
            )
        return recorded

    def close(self) -> None:
        """The auditor's view writes through the installation's log: nothing to close."""


@dataclass
class AuditorReads:
    """The live reads over a read model rebuilt as of a position, as an auditor sees them.

    `at` is the time the view is read as of (the time of the event at the position, unless
    the auditor names another): what "today" meant to the teacher or guardian then."""

    app: TenantApplication
    auditor: str
    disclosures: DisclosureLog
    at: datetime

    def __post_init__(self) -> None:
        granted = self.app.granted_subjects(self.auditor)
        self._as_auditor = cast(
            TenantApplication, _AsAuditor(self.app, _GrantedSealer(self.app.sealer, granted))
        )
        self._disclosed = _DisclosedToAuditor(
            self.disclosures, auditor=self.auditor, granted=granted
        )

    def _parts(self, projection: Projection, engine: Engine) -> dict[str, Any]:
        return {
            "engine": engine,
            "projection": projection,
            "disclosures": self._disclosed,
            "clock": lambda: self.at,
        }

    def class_dashboard(
        self, projection: Projection, engine: Engine, *, teacher: str, class_id: str
    ) -> dict[str, Any]:
        """The class dashboard `teacher` was shown for `class_id` (its first page)."""
        reads = ClassDashboardReads(**self._parts(projection, engine))
        actor = Actor(self.app.tenant, "teacher", teacher)
        return reads.dashboard(self._as_auditor, actor, class_id)

    def guardian_view(
        self, projection: Projection, engine: Engine, *, guardian: str, student: str
    ) -> dict[str, Any]:
        """The view of `student` their guardian `guardian` was shown."""
        reads = GuardianViewReads(**self._parts(projection, engine))
        actor = Actor(self.app.tenant, "guardian", guardian)
        return reads.child_view(self._as_auditor, actor, student)

    def oneroster(
        self, projection: Projection, engine: Engine, *, path: str, limit: int = 100
    ) -> dict[str, Any]:
        """A OneRoster rostering collection (a path such as /classes or
        /classes/{id}/students) as a statutory service with every rostering scope read
        it; its personal fields are left out (no agreement grants the auditor them)."""
        operation, params = _operation(path)
        reads = RosteringReads(
            **self._parts(projection, engine), sealers=lambda _tenant: self.app.sealer
        )
        client = ClientView(
            tenant=self.app.tenant,
            service=self.auditor,
            role="auditor",
            scopes=operation.scopes,
            categories=frozenset(),
            basis="statutory",
        )
        selection = operation.select(params)
        single, many = _envelope_keys(operation.entity)
        if operation.single:
            record = reads.record(
                client,
                selection,
                params["sourcedId"],
                fields=None,
                scopes=operation.scopes,
                base_url="",
            )
            return {single: record}
        page = reads.page(
            client, selection, RosterQuery(limit=limit), scopes=operation.scopes, base_url=""
        )
        return {many: page.records, "total": page.total}


def _envelope_keys(entity: str) -> tuple[str, str]:
    many = {"class": "classes", "demographics": "demographics"}.get(entity, f"{entity}s")
    return entity, many


def _operation(path: str) -> tuple[Operation, dict[str, str]]:
    """The OneRoster rostering operation of `path`, and its path parameters."""
    wanted = path.strip("/").split("/")
    for operation in OPERATIONS:
        template = operation.path.strip("/").split("/")
        if len(template) != len(wanted):
            continue
        params: dict[str, str] = {}
        for part, given in zip(template, wanted, strict=True):
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = given
            elif part != given:
                break
        else:
            return operation, params
    raise AsOfError(
        f"{path!r} is not a OneRoster rostering path; give one such as /classes, /users/ID "
        "or /classes/ID/students"
    )
