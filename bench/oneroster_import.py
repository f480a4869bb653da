"""Bench section: a city's OneRoster CSV bundle imported until it is queryable over REST.

The import (api/oneroster_csv) runs in this process against the tenant's store while the
server under test, in a process of its own, relays and projects what it records; the rate
is the bundle's records over the time from the import's start until /healthz shows every
projection at the store head and a student of the bundle reads over REST. Beside it: the
same rows inserted raw, 1,000 per transaction, into a table of their own (what batching
alone gives on this server). The round trip check exports the projected roster and
imports that bundle back: it must record no event and leave no row out (the export holds
exactly the roster the import recorded). Then a OneRoster client syncs every user, a page
of 100 after another, as a vendor's nightly load does (its pages' time grows with the
city when a page costs more than its hundred records).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import psycopg
from psycopg import sql

from api.bootstrap import Container
from api.oneroster_csv.bundle import Bundle, read_bundle_bytes
from api.oneroster_csv.export import export_roster, zip_bytes
from api.oneroster_csv.importer import import_bundle
from bench.oneroster_city import city_files
from bench.oneroster_users import ONEROSTER_USERS_PATH, oneroster_client, oneroster_token
from bench.server import BenchmarkSetupError, require_status, wait_until_caught_up
from bench.timing import Load, Sample
from domain.commands import Actor

__all__ = ["ImportRoundTripError", "measure_oneroster_import", "round_trip"]

_RAW_BATCH = 1_000
#: The page of a client's sync of every user.
_SYNC_PAGE = 100


class ImportRoundTripError(BenchmarkSetupError):
    """Raised when an import of the export is not identical to the import it came from."""


def _records(bundle: Bundle) -> int:
    return sum(len(f.rows) for f in bundle.files.values())


def round_trip(container: Container, tenant: str) -> dict[str, Any]:
    """Exports the tenant's projected roster and imports it back; ImportRoundTripError
    unless that records nothing and every exported row is read back unchanged. Says how
    long each phase took."""
    app = container.tenants.get(tenant)
    actor = Actor(tenant, "admin", "bench")
    began = time.perf_counter()
    files, exported = export_roster(
        engine=container.engine,
        tables=container.projections.roster.tables,
        sealer=app.sealer,
        disclosures=container.disclosures,
        actor=actor,
        recipient="bench-round-trip",
    )
    export_seconds = time.perf_counter() - began
    bundle = read_bundle_bytes(zip_bytes(files))
    head = app.head_position()
    began = time.perf_counter()
    back = import_bundle(app, actor, bundle)
    reimport_seconds = time.perf_counter() - began
    changed = {
        name: counts.as_json()
        for name, counts in back.files.items()
        if counts.unchanged != counts.rows and name != "roles"
    }
    if app.head_position() != head or back.rejected or changed:
        raise ImportRoundTripError(
            f"the export did not import back identically: {app.head_position() - head} "
            f"events recorded, rejected {[n.as_json() for n in back.rejected[:5]]}, "
            f"files that changed {json.dumps(changed)}"
        )
    records = _records(bundle)
    return {
        "identical": True,
        "events_recorded": 0,
        "files": exported.files,
        "export_seconds": round(export_seconds, 3),
        "export_rate_per_s": records / export_seconds,
        "reimport_seconds": round(reimport_seconds, 3),
        "reimport_rate_per_s": records / reimport_seconds,
    }


def measure_oneroster_import(
    container: Container,
    tenant: str,
    base_url: str,
    *,
    students: int,
    conninfo: str,
) -> dict[str, Any]:
    """Imports a generated city of `students` into the fresh `tenant`, which the server at
    `base_url` serves, then the raw insert baseline; returns the section's results."""
    app = container.tenants.get(tenant)
    bundle = read_bundle_bytes(zip_bytes(city_files(students=students)))
    records = _records(bundle)
    token = container.tokens.issue(tenant=tenant, role="admin", subject="bench", scopes=())
    wait_until_caught_up(base_url, token, tenant)
    began = time.perf_counter()
    report = import_bundle(app, Actor(tenant, "admin", "bench"), bundle)
    imported = time.perf_counter() - began
    # A city takes the projections longer than the server's usual catch-up wait: the wait
    # is repeated until they reach the head, for at most a minute per 3,000 records.
    deadline = time.perf_counter() + max(180.0, records / 50)
    caught_up = wait_until_caught_up(base_url, token, tenant)
    while caught_up.behind and time.perf_counter() < deadline:
        caught_up = wait_until_caught_up(base_url, token, tenant)
    if caught_up.behind:
        raise BenchmarkSetupError(f"the import was not projected: {caught_up.behind}")
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        answer = http.get(
            f"/api/v1/roster/users/stu-{students - 1}",
            params={"min_position": report.position},
            headers={"Authorization": f"Bearer {token}"},
        )
    require_status(answer, 200, what="a student of the import read over REST")
    queryable = time.perf_counter() - began
    checked = round_trip(container, tenant)
    sync = _client_sync(container, tenant, base_url)
    raw_seconds = _raw_batched_insert(conninfo, f"tenant_{tenant}", bundle)
    summary = (
        f"{students:,} students, {records:,} records: import {imported:,.1f} s "
        f"({records / imported:,.0f}/s), readable over REST after {queryable:,.1f} s; "
        f"export {checked['export_seconds']:,.1f} s, identical re-import (0 events) "
        f"{checked['reimport_seconds']:,.1f} s ({checked['reimport_rate_per_s']:,.0f}/s); "
        f"a OneRoster client's sync of its {sync['users']:,} users, {sync['count']:,} pages "
        f"of {_SYNC_PAGE}, {sync['seconds']:,.1f} s (p50 {sync['p50_ms']:,.0f} ms a page)"
    )
    return {
        "summary": summary,
        "oneroster_import": {
            "count": records,
            "seconds": round(queryable, 3),
            "import_seconds": round(imported, 3),
            "import_rate_per_s": records / imported,
            "rate_per_s": records / queryable,
            "unit": "records/s",
            "rejected": len(report.rejected),
            "round_trip": checked,
        },
        "oneroster_sync": sync,
        "oneroster_raw_insert": {
            "count": records,
            "seconds": round(raw_seconds, 3),
            "rate_per_s": records / raw_seconds,
            "unit": "rows/s",
        },
    }


def _raw_batched_insert(conninfo: str, schema: str, bundle: Bundle) -> float:
    """Seconds to insert the bundle's rows as JSON, 1,000 rows per transaction."""
    table = sql.Identifier(schema, "bench_oneroster_raw")
    rows = [
        (name, values.get("sourcedId", ""), json.dumps(values))
        for name, csv_file in bundle.files.items()
        for _line, values in csv_file.rows
    ]
    insert = sql.SQL("INSERT INTO {} (file, sourced_id, data) VALUES (%s, %s, %s)").format(table)
    with psycopg.connect(conninfo) as connection:
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (file text NOT NULL, sourced_id text NOT NULL, data jsonb, "
                "PRIMARY KEY (file, sourced_id))"
            ).format(table)
        )
        connection.commit()
        began = time.perf_counter()
        for start in range(0, len(rows), _RAW_BATCH):
            with connection.cursor() as cursor:
                cursor.executemany(insert, rows[start : start + _RAW_BATCH])
            connection.commit()
        return time.perf_counter() - began


def _client_sync(container: Container, tenant: str, base_url: str) -> dict[str, Any]:
    """A OneRoster client of `tenant` (statutory, names visible, every school) pages through
    every user over the server at `base_url`, one page after another: each page's time and
    status, and how many users it read. A page answered otherwise than 200 ends the sync
    and is counted failed."""
    credentials = oneroster_client(container, tenant, name="bench-sync", schools=())
    headers = {"Authorization": f"Bearer {oneroster_token(base_url, credentials)}"}
    pages: list[Sample] = []
    users = 0
    total = None
    began = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=60.0) as http:
        while total is None or users < total:
            asked = time.perf_counter()
            answer = http.get(
                ONEROSTER_USERS_PATH,
                params={"limit": _SYNC_PAGE, "offset": users},
                headers=headers,
            )
            pages.append((time.perf_counter() - asked, str(answer.status_code)))
            records = answer.json().get("users", []) if answer.status_code == 200 else []
            if not records:
                break
            users += len(records)
            total = int(answer.headers["x-total-count"])
    synced = Load(seconds=time.perf_counter() - began, samples=pages)
    return {**synced.summary(unit="pages/s", success="200"), "users": users}
