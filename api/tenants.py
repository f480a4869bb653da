"""The tenant registry: which municipalities exist, and each one's own event store.

A tenant owns its storage: a SQLite file of its own beside the main database, or a
PostgreSQL schema of its own (`tenant_<id>`) in the configured database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from api.connection_budget import STORE_BURST
from domain.application import TenantApplication
from domain.curriculum import load_curriculum
from domain.errors import InvalidValueError, UnknownTenantError
from domain.ids import is_valid_tenant_id
from domain.sealing import RetentionClass

log = logging.getLogger(__name__)

metadata = sa.MetaData()
tenants_table = sa.Table(
    "digione_tenants",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


class Tenants:
    """Opens each tenant's application once and hands it out."""

    def __init__(
        self,
        *,
        engine: Engine,
        database_url: str | None,
        data_dir: Path,
        master_key: bytes,
        fallback_master_keys: tuple[bytes, ...] = (),
        clock: Callable[[], datetime],
        key_cache_seconds: float,
        store_pool_size: int = 2,
        store_overflow: int = STORE_BURST,
        store_burst_idle_seconds: float = 60.0,
        planned_stores: int | None = None,
        only: frozenset[str] | None = None,
    ) -> None:
        self._engine = engine
        self._database_url = database_url
        self._data_dir = data_dir
        self._master_key = master_key
        self._fallback_master_keys = fallback_master_keys
        self._clock = clock
        self._key_cache_seconds = key_cache_seconds
        self._store_pool_size = store_pool_size
        #: How many more connections than it keeps each store may open in a burst (on
        #: PostgreSQL: as api/connection_budget.py plans).
        self._store_overflow = store_overflow
        #: How long such a burst connection may stay unused before the store's pool closes
        #: it, one each such period (domain/postgres_store.py).
        self._store_burst_idle_seconds = store_burst_idle_seconds
        #: How many stores this process's connection plan holds (None: no plan counted the
        #: registry); a store opened beyond them is one of a tenant registered since.
        self._planned_stores = planned_stores
        self._only = only
        self._apps: dict[str, TenantApplication] = {}
        self._after_save: list[Callable[[int], None]] = []
        self._key_forgotten: list[Callable[[str, UUID, RetentionClass], None]] = []
        self._lock = threading.Lock()
        metadata.create_all(engine)

    def create(self, tenant: str, *, name: str) -> TenantApplication:
        """Opens a tenant's store, making its tables, then registers it (idempotent).

        In that order, so that another process that finds the tenant registered (a running
        serve's relay, which looks for new tenants) finds its tables made: it would
        otherwise make them at the same time, and PostgreSQL refuses one of two concurrent
        CREATE TABLE IF NOT EXISTS of a table (a duplicate type name)."""
        if not is_valid_tenant_id(tenant):
            raise InvalidValueError(
                f"tenant id {tenant!r} must be 2–31 lowercase letters, digits or _ , "
                "starting with a letter (e.g. vantaa)",
                field="tenant",
            )
        with self._lock:
            opened = self._apps.get(tenant)
            app = opened or self._open(tenant)
            with self._engine.begin() as connection:
                exists = connection.execute(
                    sa.select(tenants_table.c.id).where(tenants_table.c.id == tenant)
                ).first()
                if exists is None:
                    connection.execute(
                        tenants_table.insert().values(
                            id=tenant, name=name, created_at=datetime.now(UTC).isoformat()
                        )
                    )
            self._apps[tenant] = app
            if opened is None:
                self._beyond_the_plan(tenant)
        return app

    def exists(self, tenant: str) -> bool:
        if tenant in self._apps:
            return True
        with self._engine.connect() as connection:
            row = connection.execute(
                sa.select(tenants_table.c.id).where(tenants_table.c.id == tenant)
            ).first()
        return row is not None

    def ids(self) -> list[str]:
        """The tenants served here: every registered one, or those of `only` among them."""
        with self._engine.connect() as connection:
            ids = [r[0] for r in connection.execute(sa.select(tenants_table.c.id).order_by("id"))]
        return ids if self._only is None else [t for t in ids if t in self._only]

    def opened(self, tenant: str) -> TenantApplication | None:
        """The tenant's application if this process opened it already (no I/O); else None."""
        return self._apps.get(tenant)

    def get(self, tenant: str) -> TenantApplication:
        """The tenant's application; UnknownTenantError if it was never created."""
        app = self._apps.get(tenant)
        if app is not None:
            return app
        if not is_valid_tenant_id(tenant) or not self.exists(tenant):
            raise UnknownTenantError(
                f"no tenant {tenant!r} here; create it with `digione tenant create {tenant}`"
            )
        with self._lock:
            if tenant not in self._apps:
                self._apps[tenant] = self._open(tenant)
                self._beyond_the_plan(tenant)
            return self._apps[tenant]

    def _beyond_the_plan(self, tenant: str) -> None:
        """Warns when `tenant`'s store, just opened, is more than this process's connection
        plan holds: the tenant was registered after the process started."""
        planned = self._planned_stores
        if planned is None or len(self._apps) <= planned:
            return
        log.warning(
            "tenant %r was registered after this process planned its connections to "
            "PostgreSQL (for %s): its store keeps %d more open in this "
            "process, beyond serve's share of the server's connections (api/"
            "connection_budget.py). Restart serve when convenient, so that it plans for "
            "every tenant",
            tenant,
            "1 tenant's store" if planned == 1 else f"{planned} tenants' stores",
            self._store_pool_size,
        )

    def add_save_listener(self, listener: Callable[[int], None]) -> None:
        """Calls `listener(position)` after every save of every tenant, opened or not yet."""
        with self._lock:
            self._after_save.append(listener)
            for app in self._apps.values():
                app.after_save.append(listener)

    def add_key_forgotten_listener(
        self, listener: Callable[[str, UUID, RetentionClass], None]
    ) -> None:
        """Calls `listener(tenant, subject, retention)` after an erasure here dropped a cached
        subject key, in every tenant, opened or not yet (to tell the other processes)."""
        with self._lock:
            self._key_forgotten.append(listener)
            for tenant, app in self._apps.items():
                app.sealer.key_forgotten.append(_for_tenant(listener, tenant))

    def drop_cached_key(self, tenant: str, subject: UUID, retention: RetentionClass) -> None:
        """Drops one cached subject key of an open tenant (another process erased it)."""
        app = self._apps.get(tenant)
        if app is not None:
            app.sealer.drop_cached_key(subject, retention)

    def forget_every_key(self) -> None:
        """Drops every open tenant's cached keys (announcements may have been missed)."""
        for app in list(self._apps.values()):
            app.sealer.forget_all_keys()

    def rotate_master_key(self, new_master_key: bytes) -> list[str]:
        """Re-wraps every tenant's KEK with a new master key; events are not touched."""
        rotated = []
        for tenant in self.ids():
            app = self.get(tenant)
            if app.tables.tenant_kek_was_shredded():
                continue
            app.tables.replace_tenant_kek(app.sealer.rewrap_tenant_kek(new_master_key))
            rotated.append(tenant)
        return rotated

    def replace_master_key(
        self, master_key: bytes, fallback_master_keys: tuple[bytes, ...] = ()
    ) -> None:
        """Every tenant opens its keys with a new master key from now on (another process
        rotated it): open tenants at once, tenants opened later when they open."""
        with self._lock:
            self._master_key = master_key
            self._fallback_master_keys = fallback_master_keys
            for app in self._apps.values():
                app.sealer.replace_master_key(master_key, fallback_master_keys)

    def forget_keys(self, tenant: str) -> None:
        """Drops the tenant's cached keys (another process shredded or erased some), so its
        next seal or unseal reads the key store as it is now."""
        app = self._apps.get(tenant)
        if app is not None:
            app.sealer.forget_all_keys()

    def close_tenant(self, tenant: str) -> None:
        """Closes one tenant's store and its pool of connections; get() opens it again.
        (Tests that share one container close each test's tenants when it ends.)"""
        with self._lock:
            app = self._apps.pop(tenant, None)
        if app is not None:
            app.close()

    def close(self) -> None:
        with self._lock:
            for app in self._apps.values():
                app.close()
            self._apps.clear()

    def _open(self, tenant: str) -> TenantApplication:
        schema: str | None = None
        if self._database_url is None or self._database_url.startswith("sqlite"):
            self.sqlite_path(tenant).parent.mkdir(parents=True, exist_ok=True)
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": "domain.recorders:SQLiteSideRowsRecorder",
                "SQLITE_DBNAME": str(self.sqlite_path(tenant)),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        else:
            url = make_url(self._database_url)
            schema = f"tenant_{tenant}"
            with self._engine.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            env = {
                "PERSISTENCE_MODULE": "domain.postgres_store:PostgresStoreFactory",
                "APPLICATION_RECORDER_TOPIC": "domain.recorders:PostgresSideRowsRecorder",
                "POSTGRES_DBNAME": url.database or "postgres",
                "POSTGRES_HOST": url.host or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": url.username or "postgres",
                "POSTGRES_PASSWORD": url.password or "",
                "POSTGRES_SCHEMA": schema,
                # Each tenant has its own pool: small, so many tenants fit one server.
                "POSTGRES_POOL_SIZE": str(self._store_pool_size),
                "POSTGRES_MAX_OVERFLOW": str(self._store_overflow),
                # Those a burst opened close again once unused (domain/postgres_store.py).
                "POSTGRES_BURST_IDLE_SECONDS": str(self._store_burst_idle_seconds),
                "POSTGRES_LOCK_TIMEOUT": "5",
                # A PostgreSQL restart closes the pooled connections. They are not checked
                # before each use (that check is a round trip per store read, a command's
                # largest cost after its own work): a dead one fails its first query, the
                # pool drops it, and the call is tried again on another (eventsourcing
                # tries a store call 10 times, 0.2 s apart; so does the recorder's save).
                # Waiting for a connection gives up after 3 s (1 s gave false 503s on a
                # busy machine), so a command rides out a restart of up to ~30 s, and
                # answers 503 after that.
                "POSTGRES_PRE_PING": "n",
                "POSTGRES_CONNECT_TIMEOUT": "3",
            }
        env.update({"CREATE_TABLE": "y", "AGGREGATE_CACHE_MAXSIZE": "10000"})
        app = TenantApplication(
            tenant=tenant,
            env=env,
            master_key=self._master_key,
            fallback_master_keys=self._fallback_master_keys,
            curriculum=load_curriculum(),
            clock=self._clock,
            postgres_schema=schema,
            key_cache_seconds=self._key_cache_seconds,
        )
        app.after_save.extend(self._after_save)
        app.sealer.key_forgotten.extend(_for_tenant(f, tenant) for f in self._key_forgotten)
        app.reconcile_erasures()
        app.fill_result_slots()
        return app

    def sqlite_path(self, tenant: str) -> Path:
        """Where a tenant's events live on the embedded default."""
        main = make_url(self._database_url).database if self._database_url else None
        base = Path(main).parent if main else self._data_dir
        return (base / "tenants" / f"{tenant}.sqlite").resolve()


def _for_tenant(
    listener: Callable[[str, UUID, RetentionClass], None], tenant: str
) -> Callable[[UUID, RetentionClass], None]:
    return lambda subject, retention: listener(tenant, subject, retention)
