"""What the pages call the signed-in person by, in place of their sourcedId.

The header names the signed-in person by their (unsealed) name, read from the roster read
model. A person's own name shown to themself is not a disclosure to anyone else, so it is not
recorded in the disclosure log (their right of access covers it, GDPR art. 15).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from domain.application import TenantApplication
from domain.commands import Actor
from projections.reads.access import read_connection
from projections.reads.disclosures import STATUTORY_TASK
from projections.reads.read_service import ReadService
from projections.reads.unsealing import ERASED_TEXT, Unsealer
from projections.record_queries import records_by_sourced_id
from projections.roster import RosterProjection

__all__ = ["PageLabelReads"]


class PageLabelReads(ReadService[RosterProjection]):
    """Names for the pages, from the roster read model."""

    def own_name(self, app: TenantApplication, actor: Actor) -> str | None:
        """The signed-in person's name; None when the roster does not know them (an admin
        issued a token for a subject without a user record) or their data was erased."""
        users = self.projection.tables.users
        with read_connection(self.engine) as connection:
            personal = connection.execute(
                sa.select(users.c.personal).where(
                    users.c.tenant == actor.tenant, users.c.sourced_id == actor.subject
                )
            ).scalar()
        if personal is None:
            return None
        name = Unsealer(app.sealer).name(personal)
        return None if name == ERASED_TEXT else name

    def names(
        self,
        app: TenantApplication,
        actor: Actor,
        people: Iterable[str],
        *,
        disclosed: Iterable[str] = (),
    ) -> dict[str, str]:
        """The names of `people` (users of the tenant) the roster knows, "erased" for those
        erased; the names of others than the caller and the `disclosed` (whose data the
        caller's read recorded already) are recorded as disclosed (identity, on the
        school's statutory task, as a child's view records its teachers')."""
        users = self.projection.tables.users
        with read_connection(self.engine) as connection:
            rows = records_by_sourced_id(
                connection, users, "personal", tenant=actor.tenant, ids=sorted(set(people))
            )
        unsealer = Unsealer(app.sealer)
        found = {sid: unsealer.name(row.personal) for sid, row in rows.items()}
        names = {sid: name for sid, name in found.items() if name}
        known = {actor.subject, *disclosed}
        others = sorted(sid for sid in names if sid not in known)
        if others:
            self.disclose(actor, subjects=others, categories=["identity"], basis=STATUTORY_TASK)
        return names
