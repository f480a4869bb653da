"""The composition root: builds every part from one Settings object, and nothing else does.

`digione serve`, every other command, the benchmarks and the tests call `bootstrap()`;
building connects to the database (to create tables) but starts nothing: the runtime
(broker, relay, projection runner, retention) starts with `container.runtime.start()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api import runtime_report
from api.burst_pool import BurstPool
from api.checkpoint_schedule import CheckpointSchedule
from api.connection_budget import (
    STORE_BURST,
    ConnectionPlan,
    ProcessRole,
    default_budget,
    plan_connections,
    server_facts,
)
from api.key_events import KeyForgetting
from api.master_key import fallback_master_keys, load_master_key
from api.oneroster.agreements import ClientAgreements
from api.request_threads import in_request_thread
from api.runtime import RetentionSchedule, Runtime
from api.settings import Settings
from api.shared_epochs import (
    MASTER_KEY,
    SERVICE_AGREEMENTS,
    TOKEN_REVOCATIONS,
    CatchUpRounds,
    EpochWatcher,
    SharedEpochs,
)
from api.tenants import Tenants, tenants_table
from api.token_revocations import TokenRevocations
from api.tokens import TokenService
from api.worker_process import WorkerProcess, free_wake_port
from domain.sealing import derive_signing_key
from projections.admin import ProjectionAdmin
from projections.catalogue import ProjectionCatalogue
from projections.reads import disclosures
from projections.reads.page_cursors import PageCursors
from projections.runner import ProjectionRunner
from projections.status import ProjectionStatus
from streams.broker import EmbeddedBroker, free_loopback_port
from streams.codec import EventCodec
from streams.consumer import Publications
from streams.fanout import Delivery, FanOutHandler, ServiceFanOut
from streams.fanout import create_tables as create_fanout_tables
from streams.kafka_transport import (
    ConfluentKafkaTransport,
    EventTransport,
    KafkaPythonTransport,
    ensure_topics,
)
from streams.relay import Relay
from streams.schemas import default_registry

__all__ = ["DATABASE_WAIT_SECONDS", "READ_APPLICATION_NAME", "Container", "bootstrap", "utc_now"]

#: The longest a request waits to connect to PostgreSQL or for a pooled connection.
DATABASE_WAIT_SECONDS = 5
#: How the read engine's connections name themselves to PostgreSQL (pg_stat_activity).
READ_APPLICATION_NAME = "digione-reads"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Container:
    """The built system: what the HTTP app, the command line, the bench and the tests use."""

    settings: Settings
    engine: Engine
    #: The hot reads' connections (the class dashboard's, OneRoster rostering's): autocommit,
    #: not pinged before each use; a read that meets a dropped connection reads once more
    #: (_read_engine).
    read_engine: Engine
    #: The relay's and the projection runner's connections: not pinged before each pass or
    #: batch (_pipeline_engine).
    pipeline_engine: Engine
    tenants: Tenants
    tokens: TokenService
    clock: Callable[[], datetime]
    #: Every projection, once: the runner writes and the reads query these same instances.
    projections: ProjectionCatalogue
    codec: EventCodec
    status: ProjectionStatus
    #: Where reads record what they disclose (projections/reads/disclosures.py).
    disclosures: disclosures.DisclosureLog
    #: Rebuild and status of the read models (`digione projections ...`).
    admin: ProjectionAdmin
    #: The broker (when embedded), the relay, the projection runner and retention; started
    #: by `digione serve` (and tests that need them), idle otherwise.
    runtime: Runtime
    #: Revoked tokens (`digione token revoke`), checked by `tokens.verify`.
    revocations: TokenRevocations
    #: Changes announced to every process (`keys rotate`, `tenant shred`): api/shared_epochs.py.
    epochs: SharedEpochs
    #: The service clients' agreements in force, held between their requests.
    agreements: ClientAgreements
    #: Where OneRoster clients' walks through whole collections stand: their next page
    #: seeks instead of counting off its offset (projections/reads/page_cursors.py).
    page_cursors: PageCursors = field(default_factory=PageCursors)

    def close(self) -> None:
        """Stops the runtime if it runs, then closes every pool and connection."""
        self.runtime.stop()
        self.disclosures.close()
        self.epochs.close()
        self.status.close()
        self.tenants.close()
        self.engine.dispose()
        self.read_engine.dispose()
        self.pipeline_engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    role: ProcessRole = "command",
) -> Container:
    """Builds the system from `settings`; the one place that turns settings into parts.

    `role`: which of serve's processes it is built for, if any (api/connection_budget.py):
    on PostgreSQL each process's pools are sized so that serve's processes together fit
    what the server allows; one that answers no requests keeps small request pools.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master_key = load_master_key(settings.resolved_master_key_file)
    plan = connection_plan(settings, role=role)
    engine = _engine(settings, plan)
    disclosures.create_table(engine)
    create_fanout_tables(engine)
    runtime_report.create_table(engine)
    tenants = Tenants(
        engine=engine,
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        master_key=master_key,
        fallback_master_keys=fallback_master_keys(settings.resolved_master_key_file),
        clock=clock,
        key_cache_seconds=settings.key_cache_seconds,
        store_pool_size=settings.store_pool_size,
        store_overflow=STORE_BURST if plan is None else plan.store_overflow,
        store_burst_idle_seconds=settings.database_burst_idle_seconds,
        planned_stores=None if plan is None else plan.stores,
        only=settings.only_tenants,
    )
    revocations = TokenRevocations(engine)
    agreements = ClientAgreements()
    epochs = SharedEpochs(
        engine,
        postgres_url=settings.libpq_url,
        connect_timeout=DATABASE_WAIT_SECONDS,
    )

    def take_change(name: str) -> None:
        if name == MASTER_KEY:
            path = settings.resolved_master_key_file
            current = load_master_key(path)
            tenants.replace_master_key(current, fallback_master_keys(path))
            tokens.replace_signing_key(derive_signing_key(current))
        elif name.startswith("tenant:"):
            tenants.forget_keys(name.removeprefix("tenant:"))
            agreements.forget_all()
        elif name == TOKEN_REVOCATIONS:
            revocations.reload()
        elif name == SERVICE_AGREEMENTS:
            agreements.forget_all()

    watcher = EpochWatcher(epochs, take_change)

    def before_verify() -> None:
        watcher.catch_up()
        # Read after the watcher first looked at the epochs, so a revocation committed
        # in between is either read here or announced by the next look.
        revocations.load_once()

    def take_changes(current: dict[str, int]) -> None:
        watcher.take(current)
        revocations.load_once()

    async def before_verify_async() -> None:
        # The look on the event loop; what it announces is taken on the thread pool (it
        # reads files and the database), rarely: only when something changed.
        current = await epochs.read_async()
        if not watcher.is_current(current) or not revocations.is_loaded:
            await in_request_thread(take_changes, current)

    keys = KeyForgetting(
        engine=engine,
        tenants=tenants,
        epochs=epochs,
        postgres_url=settings.libpq_url,
        catch_up=watcher.catch_up,
    )
    tokens = TokenService(
        signing_key=derive_signing_key(master_key),
        ttl_seconds=settings.token_ttl_seconds,
        clock=clock,
        revocations=revocations,
        before_verify=before_verify,
        # Requests verified at the same time share one look (api/shared_epochs.py).
        before_verify_async=CatchUpRounds(before_verify_async),
    )
    projections = ProjectionCatalogue.at(clock)
    codec = EventCodec(
        default_registry(), topic_prefix=settings.topic_prefix, partitions=settings.partitions
    )

    def head_position(tenant: str) -> int:
        return tenants.get(tenant).head_position()

    read_engine = _read_engine(settings, engine, plan)
    pipeline_engine = _pipeline_engine(settings, engine, plan)
    status = ProjectionStatus(
        engine=engine,
        watch_engine=read_engine,
        listen_url=settings.libpq_url,
        projections=projections.all,
        topic_prefix=settings.topic_prefix,
        tenant_ids=tenants.ids,
        head_position=head_position,
    )
    admin = ProjectionAdmin(
        engine=engine,
        projections=projections.all,
        codec=codec,
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        tenant_ids=tenants.ids,
        head_position=head_position,
        status=status,
        stores=tenants.get,
    )
    disclosure_log = disclosures.DisclosureLog(engine)
    return Container(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        pipeline_engine=pipeline_engine,
        tenants=tenants,
        tokens=tokens,
        clock=clock,
        projections=projections,
        codec=codec,
        status=status,
        disclosures=disclosure_log,
        admin=admin,
        runtime=_runtime(
            settings,
            engine=engine,
            pipeline_engine=pipeline_engine,
            tenants=tenants,
            codec=codec,
            projections=projections,
            disclosure_log=disclosure_log,
            clock=clock,
            keys=keys,
        ),
        revocations=revocations,
        epochs=epochs,
        agreements=agreements,
    )


def _runtime(
    settings: Settings,
    *,
    engine: Engine,
    pipeline_engine: Engine,
    tenants: Tenants,
    codec: EventCodec,
    projections: ProjectionCatalogue,
    disclosure_log: disclosures.DisclosureLog,
    clock: Callable[[], datetime],
    keys: KeyForgetting,
) -> Runtime:
    broker: EmbeddedBroker | None = None
    if settings.kafka_bootstrap:
        address = settings.kafka_bootstrap
    else:
        # The port is chosen now, so the relay and the runner are built with the address
        # the broker will listen on once the runtime starts it.
        port = free_loopback_port()
        broker = EmbeddedBroker(log_dir=settings.data_dir / "broker", port=port)
        address = f"127.0.0.1:{port}"
    # An embedded broker hears from this relay alone: its consumers wait for its publications.
    publications = Publications() if settings.runs_embedded_broker else None
    relay = Relay(
        tenants=tenants,
        engine=pipeline_engine,
        codec=codec,
        transport_factory=_transport_factory(settings, address),
        bootstrap=address,
        topic_prefix=settings.topic_prefix,
        partitions=settings.partitions,
        stall_seconds=settings.relay_stall_seconds,
        on_published=None if publications is None else publications.published,
    )
    runner = ProjectionRunner(
        engine=pipeline_engine,
        projections=projections.all,
        codec=codec,
        bootstrap=address,
        topic_prefix=settings.topic_prefix,
        tenant_ids=tenants.ids,
        # New tenants' topics are found on refresh: often enough that a new
        # municipality's first events show within a couple of seconds.
        refresh_seconds=1.0,
        fetch_wait_ms=settings.fetch_wait_ms,
        publications=publications,
    )

    def disclose(deliveries: Sequence[Delivery]) -> None:
        # What each service received, as the subject's access export shows it.
        for d in deliveries:
            disclosure_log.record(
                tenant=d.tenant,
                subjects=[d.subject],
                recipient=d.client_id,
                recipient_role="service",
                categories=d.categories,
                basis=disclosures.STATUTORY_TASK if d.basis == "statutory" else d.basis,
                at=clock(),
            )

    def ensure_service_topic(topic: str) -> None:
        # One partition: a service reads one sequence, its forget notices in order.
        ensure_topics(address, [topic], 1)

    fanout = ServiceFanOut(
        FanOutHandler(
            engine=engine,
            tenant_ids=tenants.ids,
            app_of=tenants.get,
            registry=codec.registry,
            codec=codec,
            transport=_transport_factory(settings, address),
            ensure_topic=ensure_service_topic,
            topic_prefix=settings.topic_prefix,
            disclose=disclose,
            clock=clock,
        ),
        codec=codec,
        bootstrap=address,
        fetch_wait_ms=settings.fetch_wait_ms,
        publications=publications,
    )
    return Runtime(
        engine=engine,
        tenants=tenants,
        bootstrap=address,
        broker=broker,
        relay=relay,
        runner=runner,
        retention=RetentionSchedule(tenants),
        checkpoints=CheckpointSchedule(
            tenants,
            bootstrap=address,
            topic_prefix=settings.topic_prefix,
            transport_factory=_transport_factory(settings, address),
            interval_seconds=settings.ledger_checkpoint_seconds,
        ),
        fanout=fanout,
        run_fanout=settings.service_fanout,
        keys=keys,
        # Started only by `runtime.start(worker_process=True)`; SQLite cannot notify, so
        # the worker's relay is woken by a datagram after each save here.
        worker=WorkerProcess(
            settings,
            bootstrap=address,
            wake_port=None if settings.is_postgres else free_wake_port(),
        ),
    )


def _transport_factory(settings: Settings, address: str) -> Callable[[], EventTransport]:
    # A publish into a dead broker must give up well before the default two minutes,
    # so the relay's back-off, not a blocked call, decides when to try again.
    timeouts: dict[str, Any] = {
        "delivery_timeout_seconds": 30.0,
        "request_timeout_seconds": 10.0,
        "max_request_bytes": settings.relay_max_message_bytes,
    }
    if settings.kafka_client == "confluent-kafka":
        return lambda: ConfluentKafkaTransport(address, **timeouts)
    return lambda: KafkaPythonTransport(address, **timeouts)


def connection_plan(settings: Settings, *, role: ProcessRole) -> ConnectionPlan | None:
    """A process's pools as serve's share of PostgreSQL's connections allows (None: not
    PostgreSQL): DIGIONE_DATABASE_CONNECTIONS or, unset, what the server allows less a
    tenth, asked of the server on a connection of its own. The stores kept open are
    counted for the tenants DIGIONE_ONLY_TENANTS names, else, in serve's processes, for
    every registered tenant, and for one in any other."""
    if settings.libpq_url is None:
        return None
    counts_registry = role != "command" and not settings.only_tenants
    facts = server_facts(
        settings.libpq_url,
        tenants_table=tenants_table.name if counts_registry else None,
        connect_timeout=DATABASE_WAIT_SECONDS,
    )
    if settings.only_tenants:
        tenants = len(settings.only_tenants)
    else:
        tenants = max(1, facts.registered_tenants)
    plan = plan_connections(
        budget=settings.database_connections or default_budget(facts.client_limit),
        http_workers=settings.http_workers,
        worker_process=settings.worker_process,
        answers_requests=role != "background",
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        store_pool_size=settings.store_pool_size,
        tenants=tenants,
    )
    return plan if counts_registry else replace(plan, stores=None)


def _engine(settings: Settings, plan: ConnectionPlan | None) -> Engine:
    # Read models hold JSON columns (a dashboard page decodes one card per student):
    # orjson decodes them several times faster than the standard library.
    if plan is not None:
        # A PostgreSQL restart closes every pooled connection: each is pinged before use
        # (and replaced if dead).
        return _postgres_engine(
            settings,
            pool_size=plan.pool_size,
            max_overflow=plan.max_overflow,
            poolclass=BurstPool.idle_for(settings.database_burst_idle_seconds),
            pool_pre_ping=True,
        )
    engine = sa.create_engine(settings.sqlalchemy_url, json_deserializer=orjson.loads)

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine


def _pipeline_engine(settings: Settings, engine: Engine, plan: ConnectionPlan | None) -> Engine:
    """The relay's and the projection runner's engine: on PostgreSQL a small pool of its
    own whose connections are not pinged before each checkout. The ping was one round trip
    of the six or so of every batch's transaction (checkout, BEGIN, the lock, the writes,
    the position, COMMIT), and of each of a relay pass's two checkouts (its published
    position, its checkpoint), and their threads wait for each. A connection that died
    meanwhile (a PostgreSQL restart) fails its batch or pass instead: SQLAlchemy discards
    it and every connection pooled before it, the runner's loop counts one error and
    applies the batch again on a new connection, and the relay retries after its short
    back-off.

    Its transactions commit without waiting for the WAL's flush (`synchronous_commit`
    off for its sessions): whatever they write is recovered by replay when the server
    loses its last transactions in a crash (a batch's rows commit with its partition's
    position and are applied again from the topic; a relay position lost is published
    again, duplicates consumers absorb), and the relay's checkpoint saves the round trip
    of a `SET LOCAL` of its own. SQLite: the one engine."""
    if plan is None:
        return engine
    # The runner's and the relay's threads, and now and then a look at the partitions, the
    # statistics or the relay's status (only that in an HTTP process beside the worker's).
    return _postgres_engine(
        settings,
        pool_size=plan.pipeline_pool,
        max_overflow=plan.pipeline_overflow,
        session_options="-c synchronous_commit=off",
    )


def _read_engine(settings: Settings, engine: Engine, plan: ConnectionPlan | None) -> Engine:
    """The engine of the hottest reads: on PostgreSQL a pool of its own, in autocommit
    (a read is one statement; BEGIN and ROLLBACK would be two round trips more) and
    without the ping before each checkout, which cost a round trip per read. A connection
    that died meanwhile (a PostgreSQL restart) fails its statement instead: SQLAlchemy
    then discards it and every connection pooled before it, and the read runs once more
    on a new one (projections/reads/access.py `read_retried`). SQLite drops no
    connection: its reads share the one engine."""
    if plan is None:
        return engine
    return _postgres_engine(
        settings,
        application_name=READ_APPLICATION_NAME,
        pool_size=plan.pool_size,
        max_overflow=plan.max_overflow,
        poolclass=BurstPool.idle_for(settings.database_burst_idle_seconds),
        isolation_level="AUTOCOMMIT",
    )


#: libpq's `options` of every session of serve's pools: no just-in-time compilation.
NO_JIT = "-c jit=off"


def _postgres_engine(
    settings: Settings,
    *,
    application_name: str | None = None,
    session_options: str | None = None,
    **options: Any,
) -> Engine:
    """A pool of the main PostgreSQL database as each of a process's pools has it: neither
    connecting nor waiting for a free connection may hang a caller for long, so an outage
    answers 503 within seconds; JSON columns decoded by orjson. `session_options` are
    settings of its sessions (libpq's `options`), `options` the pool's own (its size, its
    ping, its isolation).

    Their sessions never compile a query just in time (`jit=off`, PostgreSQL's default is
    on for any query the planner costs above 100,000): that is for long analytical
    queries, and ours are short. A city's OneRoster results (180,000 of them) crossed the
    threshold: compiling took 180–240 ms of each of a page's two queries, which ran in 139
    and 181 ms (`EXPLAIN ANALYZE`: the count 318 ms with it, 139 without; the page at
    offset 100,000 415 against 181)."""
    connect_args: dict[str, Any] = {"connect_timeout": DATABASE_WAIT_SECONDS}
    if application_name is not None:
        connect_args["application_name"] = application_name
    connect_args["options"] = " ".join(filter(None, [NO_JIT, session_options]))
    return sa.create_engine(
        settings.sqlalchemy_url,
        pool_timeout=DATABASE_WAIT_SECONDS,
        connect_args=connect_args,
        json_deserializer=orjson.loads,
        **options,
    )
