"""Reads the learning read models share, over the record tables of projections/record_tables.py.

The class dashboard's and the guardian view's queries both look records up by sourcedId
and ask who is enrolled on a day; these are those reads, written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.record import ACTIVE
from projections.record_tables import is_current

__all__ = ["current_enrollments", "records_by_sourced_id"]


def records_by_sourced_id(
    connection: Connection, table: sa.Table, *columns: str, tenant: str, ids: Iterable[str]
) -> dict[str, sa.Row[Any]]:
    """The tenant's records of `table` among `ids`, by sourcedId, each with `sourced_id` and
    the columns named; an id with no record is left out."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = connection.execute(
        sa.select(table.c.sourced_id, *(table.c[name] for name in columns)).where(
            table.c.tenant == tenant, table.c.sourced_id.in_(wanted)
        )
    )
    return {str(row.sourced_id): row for row in rows}


def current_enrollments(
    connection: Connection, table: sa.Table, *where: Any, tenant: str, role: str, today: date
) -> list[sa.Row[Any, Any, Any, Any]]:
    """The tenant's active enrollments in `role` that `where` selects and that hold on
    `today`, by user then class: each with its user and class sourcedIds and its dates."""
    e = table
    rows = connection.execute(
        sa.select(e.c.user_sourced_id, e.c.class_sourced_id, e.c.begin_date, e.c.end_date)
        .where(e.c.tenant == tenant, e.c.role == role, e.c.status == ACTIVE, *where)
        .order_by(e.c.user_sourced_id, e.c.class_sourced_id)
    )
    return [row for row in rows if is_current(row.begin_date, row.end_date, today)]
