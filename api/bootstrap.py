"""The composition root: builds every part from one Settings object, and nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api import disclosures
from api.master_key import fallback_master_keys, load_master_key
from api.settings import Settings
from api.tenants import Tenants
from api.tokens import TokenService
from domain.sealing import derive_signing_key
from projections.catalogue import all_projections
from projections.status import ProjectionStatus


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
    status: ProjectionStatus
    #: Where reads record what they disclose (api/disclosures.py).
    disclosures: disclosures.DisclosureLog
    #: The running broker, relay and projection runner, when `digione serve` started them.
    runtime: object | None = None

    def close(self) -> None:
        self.disclosures.close()
        self.status.close()
        self.tenants.close()
        self.engine.dispose()


def bootstrap(
    settings: Settings, *, clock: Callable[[], datetime] = utc_now
) -> Container:
    """Builds the system from `settings`; the one place that turns settings into parts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master_key = load_master_key(settings.resolved_master_key_file)
    engine = _engine(settings)
    disclosures.create_table(engine)
    tenants = Tenants(
        engine=engine,
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        master_key=master_key,
        fallback_master_keys=fallback_master_keys(settings.resolved_master_key_file),
        clock=clock,
        key_cache_seconds=settings.key_cache_seconds,
    )
    tokens = TokenService(
        signing_key=derive_signing_key(master_key),
        ttl_seconds=settings.token_ttl_seconds,
        clock=clock,
    )
    status = ProjectionStatus(
        engine=engine,
        projections=all_projections(),
        topic_prefix=settings.topic_prefix,
        tenant_ids=tenants.ids,
        head_position=lambda tenant: tenants.get(tenant).head_position(),
    )
    return Container(
        settings=settings, engine=engine, tenants=tenants, tokens=tokens, clock=clock,
        status=status, disclosures=disclosures.DisclosureLog(engine),
    )


def _engine(settings: Settings) -> Engine:
    # Read models hold JSON columns (a dashboard page decodes one card per student):
    # orjson decodes them several times faster than the standard library.
    if settings.is_postgres:
        return sa.create_engine(
            settings.sqlalchemy_url, pool_size=10, max_overflow=20, json_deserializer=orjson.loads
        )
    engine = sa.create_engine(settings.sqlalchemy_url, json_deserializer=orjson.loads)

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine
