"""A tenant's store gathers the planner's statistics of its tables as it fills
(domain/store_statistics.py): without them PostgreSQL took a city's events table, during
its first import, for 200 records and read every event to find a batch's 400."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from api.settings import libpq_form
from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.roster import Org
from domain.store_statistics import FIRST_ANALYSE_AT


def counted_rows(url: str, table: str) -> float:
    """The rows the table's last analysis counted (-1: never analysed)."""
    with psycopg.connect(libpq_form(url)) as connection:
        row = connection.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (table,)
        ).fetchone()
    assert row is not None, f"no table {table}"
    return float(row[0])


def schools(tenant: str, first: int, count: int) -> list[Org]:
    return [
        Org.register(
            aggregate_id(tenant, "orgs", f"sch-{n}"),
            sourced_id=f"sch-{n}",
            name=f"Koulu {n}",
            org_type="school",
            identifier=str(n),
            parent=None,
        )
        for n in range(first, first + count)
    ]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_store_filled_past_its_first_look_has_statistics_of_its_events(
    tenant: str, app: TenantApplication, postgres_database_url: str
) -> None:
    recorder: Any = app.recorder
    events = f'"{recorder.datastore.schema}".{recorder.events_table_name}'
    app._save(*schools(tenant, 1, FIRST_ANALYSE_AT // 2))
    assert counted_rows(postgres_database_url, events) < 0  # not analysed yet

    app._save(*schools(tenant, FIRST_ANALYSE_AT, FIRST_ANALYSE_AT // 2 + 10))

    assert counted_rows(postgres_database_url, events) >= FIRST_ANALYSE_AT
