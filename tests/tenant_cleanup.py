"""Removing the tenants a test made in the shared PostgreSQL test database."""

from __future__ import annotations

import sqlalchemy as sa

from api.settings import Settings


def drop_tenants(settings: Settings, tenants: list[str]) -> None:
    """Removes tenants a test made in the shared PostgreSQL database: a tenant left behind,
    made under another master key, would break a later test's key rotation."""
    engine = sa.create_engine(settings.sqlalchemy_url)
    with engine.begin() as connection:
        for tenant in tenants:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "tenant_{tenant}" CASCADE'))
            connection.execute(sa.text("DELETE FROM digione_tenants WHERE id = :t"), {"t": tenant})
    engine.dispose()
