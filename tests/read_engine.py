"""What the tests of reads through the read engine (api/bootstrap.py `_read_engine`) share:
ending its pooled connections on the server, as a PostgreSQL restart does."""

from __future__ import annotations

import sqlalchemy as sa

from api.bootstrap import READ_APPLICATION_NAME, Container

__all__ = ["end_the_read_engines_connections"]


def end_the_read_engines_connections(container: Container) -> int:
    """Ends every connection the read engine holds on the server (as a PostgreSQL restart
    does), and waits until they are gone; returns how many were ended."""
    mine = "application_name = :name AND datname = current_database()"
    # Autocommit: pg_stat_activity is read once per transaction.
    with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        ended = connection.execute(
            sa.text(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {mine}"),
            {"name": READ_APPLICATION_NAME},
        ).scalar_one()
        while connection.execute(
            sa.text(f"SELECT count(*) FROM pg_stat_activity WHERE {mine}"),
            {"name": READ_APPLICATION_NAME},
        ).scalar_one():
            connection.execute(sa.text("SELECT pg_sleep(0.05)"))
    return int(ended)
