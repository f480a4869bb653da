"""The PostgreSQL the suite runs on: its URL, its settings, and forgetting the run's tenants."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

from api.settings import Settings, libpq_form
from api.tenants import tenants_table

__all__ = [
    "DEFAULT_DATABASE_URL",
    "bench_database_url",
    "forget_tenants",
    "redacted",
    "server_facts",
    "tenant_schema",
]

#: Where the benchmark runs when the configured database is not PostgreSQL.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/digione_bench"


def bench_database_url(settings: Settings) -> str:
    """The configured PostgreSQL, or the default bench database; created when missing."""
    url = (
        settings.database_url
        if settings.is_postgres and settings.database_url is not None
        else DEFAULT_DATABASE_URL
    )
    _create_database_if_missing(url)
    return url


def redacted(url: str) -> str:
    """The URL without its password, as the console and the report show it."""
    return make_url(url).render_as_string(hide_password=True)


def tenant_schema(tenant: str) -> str:
    """The tenant's PostgreSQL schema, as api.tenants names it."""
    return f"tenant_{tenant}"


def forget_tenants(settings: Settings, tenants: Sequence[str]) -> None:
    """Drops the tenants' schemas and registry rows, and every row kept for them in shared
    tables: relay and projection positions, parked messages, read models, disclosures.

    Shared tables are found as those of the main schema with a `tenant` column, so a table
    added later is cleaned too; the run's tenant ids are its own, so no other row matches.
    """
    engine = sa.create_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as connection:
            shared = _shared_tables(connection)
            for tenant in tenants:
                for table in reversed(shared.sorted_tables):  # rows that refer to others first
                    if "tenant" in table.c:
                        _delete_if_still_there(connection, table, tenant)
                connection.execute(
                    sa.text(f'DROP SCHEMA IF EXISTS "{tenant_schema(tenant)}" CASCADE')
                )
                if tenants_table.name in shared.tables:
                    connection.execute(tenants_table.delete().where(tenants_table.c.id == tenant))
    finally:
        engine.dispose()


def _shared_tables(connection: sa.Connection) -> sa.MetaData:
    """The main schema's tables, skipping any that another run (a concurrent bench on the
    same database, a rebuild's scratch table) drops while they are being reflected."""
    shared = sa.MetaData()
    for name in sa.inspect(connection).get_table_names():
        try:
            with connection.begin_nested():
                sa.Table(name, shared, autoload_with=connection)
        except sa.exc.NoSuchTableError:
            continue
    return shared


def _delete_if_still_there(connection: sa.Connection, table: sa.Table, tenant: str) -> None:
    try:
        with connection.begin_nested():
            connection.execute(table.delete().where(table.c.tenant == tenant))
    except sa.exc.ProgrammingError as error:
        if getattr(error.orig, "sqlstate", None) != "42P01":  # undefined_table: dropped meanwhile
            raise


def server_facts(conninfo: str) -> dict[str, str]:
    """What makes commit rates on this server what they are."""
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return {
            name: str(connection.execute("SELECT current_setting(%s)", (name,)).fetchall()[0][0])
            for name in names
        }


def _create_database_if_missing(url: str) -> None:
    name = make_url(url).database
    if name is None:
        return  # libpq's default database, which exists
    maintenance = psycopg.conninfo.make_conninfo(libpq_form(url), dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            try:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another run created it a moment ago
