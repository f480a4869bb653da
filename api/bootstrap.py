"""The composition root: builds every part from one Settings object, and nothing else does."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.settings import Settings
from api.tenants import Tenants
from api.tokens import TokenService
from domain.sealing import KEY_BYTES, derive_signing_key


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Container:
    """The built system: what the HTTP app, the command line and the tests use."""

    settings: Settings
    engine: Engine
    tenants: Tenants
    tokens: TokenService
    clock: Callable[[], datetime]
    extras: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        self.tenants.close()
        self.engine.dispose()


def load_master_key(path: Path) -> bytes:
    """Reads the master key file, creating it (mode 0600) with a fresh key when absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise SystemExit(
            f"the master key file {path} holds {len(key)} bytes, not {KEY_BYTES}: restore the "
            "right file (without it no personal data can be read) or point "
            "DIGIONE_MASTER_KEY_FILE at it"
        )
    return key


def bootstrap(
    settings: Settings, *, clock: Callable[[], datetime] = utc_now
) -> Container:
    """Builds the system from `settings`; the one place that turns settings into parts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master_key = load_master_key(settings.resolved_master_key_file)
    engine = _engine(settings)
    tenants = Tenants(
        engine=engine,
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        master_key=master_key,
        clock=clock,
        key_cache_seconds=settings.key_cache_seconds,
    )
    tokens = TokenService(
        signing_key=derive_signing_key(master_key),
        ttl_seconds=settings.token_ttl_seconds,
        clock=clock,
    )
    return Container(settings=settings, engine=engine, tenants=tenants, tokens=tokens, clock=clock)


def _engine(settings: Settings) -> Engine:
    if settings.is_postgres:
        return sa.create_engine(settings.sqlalchemy_url, pool_size=10, max_overflow=20)
    engine = sa.create_engine(settings.sqlalchemy_url)

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine
