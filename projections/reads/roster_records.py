"""Roster record reads: one OneRoster record as the roster read model holds it (admins)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain.application import TenantApplication
from domain.commands import Actor
from projections.reads.access import RosterRecordNotFoundError, read_retried, require_role
from projections.reads.disclosures import STATUTORY_TASK, user_detail_categories
from projections.reads.read_service import ReadService
from projections.reads.unsealing import ERASED_TEXT, Unsealer
from projections.record_tables import built_once
from projections.roster import RosterProjection

__all__ = ["COLLECTIONS", "NOT_AN_ADMIN", "RosterRecordReads"]

#: OneRoster collection (as paths name it) → its table in the roster read model's tables.
_TABLE_OF = {
    "orgs": "orgs",
    "academicSessions": "academic_sessions",
    "courses": "courses",
    "classes": "classes",
    "users": "users",
    "enrollments": "enrollments",
    "demographics": "demographics",
}
#: The OneRoster collections whose records can be read.
COLLECTIONS = tuple(_TABLE_OF)
NOT_AN_ADMIN = "roster reads are for admins"
#: Columns that are the read model's own bookkeeping, not the record's.
_HIDDEN = frozenset({"tenant", "aggregate_id"})


def _record_by_sourced_id(table: sa.Table) -> sa.Select[Any]:
    """The select of one record of `table`, built once (a roster read is hot, and building
    the statement and its cache key again for each cost about as much as running it)."""
    return built_once(
        table,
        "digione_record_by_sourced_id",
        lambda: sa.select(table).where(
            table.c.tenant == sa.bindparam("tenant"),
            table.c.sourced_id == sa.bindparam("sourced_id"),
        ),
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RosterRecordReads(ReadService[RosterProjection]):
    """Reads of single records of the roster read model, personal fields unsealed."""

    def record(
        self, app: TenantApplication, actor: Actor, collection: str, sourced_id: str
    ) -> dict[str, Any]:
        """The record of `collection` (one of COLLECTIONS) with fields named as in OneRoster
        (camelCase); its personal fields opened ("personal": "erased" once erased) and,
        when there were any, recorded as disclosed. RosterRecordNotFoundError when absent."""
        require_role(actor, ("admin",), NOT_AN_ADMIN)
        statement = _record_by_sourced_id(self._table(collection))
        key = {"tenant": actor.tenant, "sourced_id": sourced_id}
        row = read_retried(
            self.engine, lambda connection: connection.execute(statement, key).mappings().first()
        )
        if row is None:
            raise RosterRecordNotFoundError(f"{collection} has no {sourced_id!r}")
        record = {_camel(k): v for k, v in row.items() if k not in _HIDDEN}
        if "personal" not in record:
            return record
        opened = Unsealer(app.sealer).open(record.pop("personal"))
        if not isinstance(opened, dict):
            record["personal"] = ERASED_TEXT
            return record
        record.update(opened)
        categories = user_detail_categories(opened) if collection == "users" else ["demographics"]
        self.disclose(
            actor,
            subjects=[sourced_id],
            categories=categories,
            basis=STATUTORY_TASK,
        )
        return record

    def _table(self, collection: str) -> sa.Table:
        table: sa.Table = getattr(self.projection.tables, _TABLE_OF[collection])
        return table
