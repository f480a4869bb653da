"""What a request may have written, counted, for checks that a refused one wrote nothing."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from api.bootstrap import Container
from projections.reads.disclosures import disclosures


@dataclass(frozen=True)
class Writes:
    """What a request may have written, counted: every tenant's store head and side-table
    rows (subject keys, erasure list, idempotency answers, result slots, the tenant key),
    and the disclosure rows and the requests they count."""

    heads: dict[str, int]
    tables: dict[str, dict[str, int]]
    disclosure_rows: int
    disclosed_requests: int


def writes(container: Container, tenants: list[str]) -> Writes:
    heads, tables = {}, {}
    for tenant in tenants:
        app = container.tenants.get(tenant)
        heads[tenant] = app.head_position()
        tables[tenant] = app.tables.row_counts()
    with container.engine.connect() as connection:
        rows, requests = connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(disclosures.c.count), 0))
        ).one()
    return Writes(heads, tables, int(rows), int(requests))
