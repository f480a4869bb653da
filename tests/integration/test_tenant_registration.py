"""A tenant is registered only once its store is made: a running serve's relay, which looks
for new tenants among the registered ones, never finds one whose tables are still being
made (on PostgreSQL two processes making the same table at once fail one of them)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from api.bootstrap import Container
from api.tenants import tenants_table


def test_a_tenant_is_registered_only_once_its_store_is_made(
    container: Container, tenant_prefix: str
) -> None:
    tenant = tenant_prefix + "new"
    tables_at_registration: list[set[str]] = []

    def registering(_conn: Any, clauseelement: Any, *_args: Any, **_kwargs: Any) -> None:
        if isinstance(clauseelement, sa.Insert) and clauseelement.table is tenants_table:
            tables_at_registration.append(_store_tables(container, tenant))

    sa.event.listen(container.engine, "before_execute", registering)
    try:
        container.tenants.create(tenant, name="Uusi kunta")
    finally:
        sa.event.remove(container.engine, "before_execute", registering)

    made = _store_tables(container, tenant)
    assert "digione_ledger" in made
    assert tables_at_registration == [made]
    assert tenant in container.tenants.ids()


def _store_tables(container: Container, tenant: str) -> set[str]:
    """The tables of the tenant's store (read on a connection of its own, as another
    process would see them)."""
    if container.settings.is_postgres:
        engine = sa.create_engine(container.settings.sqlalchemy_url)
        schema = f"tenant_{tenant}"
    else:
        engine = sa.create_engine(f"sqlite:///{container.tenants.sqlite_path(tenant)}")
        schema = None
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names(schema=schema))
    finally:
        engine.dispose()
