"""Settings, read from the environment (prefix DIGIONE_) once, by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

#: A consumer's fetch wait against a Kafka cluster, which answers a fetch as soon as a
#: message arrives: the wait only bounds how often an idle consumer asks.
CLUSTER_FETCH_WAIT_MS = 100
#: The same against the embedded broker (Tansu 0.6), which holds a fetch of several
#: partitions for about half its wait even when a message arrived (measured: a message to
#: one of 3 partitions reached a consumer 23 ms after it was produced at the median, 46 ms
#: at p90, with a 100 ms wait; 6 and 11 ms with 20 ms), so there the wait is the latency.
EMBEDDED_FETCH_WAIT_MS = 20


class Settings(BaseSettings):
    """Everything that varies between installations; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="DIGIONE_", extra="ignore")

    #: Event store and read models. Unset: SQLite under `data_dir`. `postgresql://…` for
    #: PostgreSQL (psycopg 3), each tenant in its own schema.
    database_url: str | None = None
    #: A Kafka cluster. Unset: the embedded development broker is started.
    kafka_bootstrap: str | None = None
    data_dir: Path = Path("./var")
    #: Connections to the main database (read models, disclosures, the runtime's positions)
    #: kept open, and how many more a burst may open beyond them, each closed again once
    #: unused for `database_burst_idle_seconds` (api/burst_pool.py; 0: as soon as it is
    #: returned). Each read uses one connection at a time, and at most 40 run at once (the
    #: server's thread pool), so a burst gets one each; a request that still finds none
    #: free waits up to 5 s for one before it answers 503. On PostgreSQL these are the most
    #: each of the two request pools may have: `database_connections` may lower them.
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=30, ge=0)
    database_burst_idle_seconds: float = Field(default=60.0, ge=0)
    #: The most connections to PostgreSQL serve's processes open in all; unset: what the
    #: server lets its clients have (max_connections less its reserved ones) less a tenth,
    #: 10 at least, for the CLI, psql and the rest. Each HTTP process's two request pools
    #: are sized to fit it (api/connection_budget.py), never beyond the sizes above.
    database_connections: int | None = Field(default=None, ge=1)
    #: Connections each tenant's event store keeps open in each process (a burst opens up
    #: to 8 more, fewer within `database_connections`; its pool closes one of them each
    #: `database_burst_idle_seconds`, 1 s at least, that one stayed unused:
    #: domain/postgres_store.py).
    store_pool_size: int = Field(default=2, ge=1)
    #: The installation's master key (32 random bytes); generated with mode 0600 if absent.
    master_key_file: Path | None = None
    topic_prefix: str = "digione"
    #: Partitions of each family topic: the unit of scale-out for projection workers.
    partitions: int = Field(default=3, ge=1, le=1000)
    #: The Kafka client the relay, the fan-out and the ledger's checkpoints publish with:
    #: confluent-kafka (librdkafka, 3-4 times faster through the relay), or kafka-python.
    kafka_client: Literal["kafka-python", "confluent-kafka"] = "confluent-kafka"
    #: Run the service fan-out (family topics → each service's topic) inside `serve`; off
    #: when it runs as a process of its own (`digione fanout`).
    service_fanout: bool = True
    #: `serve` runs the relay, the projections, the fan-out and retention in a worker
    #: process of its own (restarted when it dies), off the HTTP process's GIL; false:
    #: on threads of the HTTP process, as before.
    worker_process: bool = True
    #: How many HTTP processes `serve` runs (uvicorn workers); the background worker is
    #: one more. More than 1 needs worker_process.
    http_workers: int = Field(default=1, ge=1, le=64)
    #: How long an issued bearer token is valid, in seconds.
    token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    #: How often each tenant's ledger head is signed and published (ledger.v1), in seconds.
    ledger_checkpoint_seconds: float = Field(default=300.0, gt=0)
    #: How long an unwrapped subject key may stay cached (the erasure bound).
    key_cache_seconds: float = Field(default=30.0, ge=0)
    #: Serve only these tenants (relay, projections, retention, status); unset: every tenant.
    #: A JSON list in the environment, e.g. DIGIONE_ONLY_TENANTS='["vantaa"]'. The
    #: benchmark's server uses it so that it works only on the benchmark's own tenant.
    only_tenants: frozenset[str] | None = None
    #: The largest request body accepted, in bytes; a larger one is refused (413) unread.
    #: The largest real command (a user with many roles, a 20,000-character verbal
    #: assessment) fits with margin.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: The largest OneRoster CSV bundle `POST /api/v1/imports` accepts (a zip), in bytes.
    max_import_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: The largest request head accepted: header fields in all, and the path with its
    #: query, each in bytes; a larger one is refused (431, 414) before any route runs.
    max_header_bytes: int = Field(default=32 * 1024, ge=4096)
    #: How much `digione serve` logs (JSON lines on stderr; never a request's values).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    #: Mark the pages' cookies (session, CSRF, language) Secure even when the app itself is
    #: reached over plain http: set it behind a TLS-terminating proxy. Off for the demo,
    #: served over plain http, where browsers would drop Secure cookies.
    secure_cookies: bool = False
    #: FastAPI's native OpenTelemetry (a span, metrics and log records per request, to the
    #: providers configured globally, e.g. by an OpenTelemetry SDK the operator installs).
    #: Off by default: looking for those providers on every request was 3% of the HTTP
    #: process's GIL time, with none configured.
    opentelemetry: bool = False
    #: The largest message the relay's producer sends, in bytes; a larger event is parked
    #: (`digione relay parked`). Keep it at or below the broker's message.max.bytes.
    relay_max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: A relay with a lag that published nothing for this long reports `stalled` in
    #: /healthz and rebuilds its producer.
    relay_stall_seconds: float = Field(default=30.0, gt=0)
    #: How long a fetch of the projection runner's and the service fan-out's consumers
    #: waits at the broker for messages, in milliseconds. Unset: CLUSTER_FETCH_WAIT_MS
    #: against a Kafka cluster, EMBEDDED_FETCH_WAIT_MS with the embedded broker (see
    #: `fetch_wait_ms`). Set it low for a broker that answers fetches at the end of their
    #: wait rather than when a message arrives (Tansu is one).
    kafka_fetch_wait_ms: int | None = Field(default=None, ge=1, le=10_000)
    #: Set by serve for its worker and by the benchmark for its server, not by an operator:
    #: `kafka_bootstrap` is an embedded broker started for this installation, to which its
    #: relay alone publishes, so the consumers beside that relay ask the broker when it
    #: published (or once a second) rather than at every fetch wait.
    embedded_broker: bool = False

    @classmethod
    def explicit(cls, **values: Any) -> Settings:
        """Settings from `values` and the defaults alone: no DIGIONE_ variable, no .env file.

        For tests and tools that must not pick up a developer's installation (its database,
        its master key) from the environment they happen to run in.
        """
        return _ExplicitSettings(**values)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgresql+psycopg://", "sqlite:///")):
            raise ValueError(
                "DIGIONE_DATABASE_URL must start with postgresql:// or sqlite:/// "
                f"(got {value.split(':', 1)[0]}:…)"
            )
        return value

    @field_validator("kafka_fetch_wait_ms", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def fetch_wait_ms(self) -> int:
        """The consumers' fetch wait: as set, else as suits the broker (see the constants)."""
        if self.kafka_fetch_wait_ms is not None:
            return self.kafka_fetch_wait_ms
        return EMBEDDED_FETCH_WAIT_MS if self.runs_embedded_broker else CLUSTER_FETCH_WAIT_MS

    def at_broker(self, bootstrap: str) -> Settings:
        """These settings for a process told `bootstrap` as its Kafka cluster (serve's
        worker, the bench's server, given the embedded broker's address): the fetch wait
        stays the one that suits the broker these settings run, and whether it is embedded."""
        return self.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "kafka_fetch_wait_ms": self.fetch_wait_ms,
                "embedded_broker": self.runs_embedded_broker,
            }
        )

    @property
    def runs_embedded_broker(self) -> bool:
        """Whether these settings' Kafka cluster is an embedded broker: one they start (no
        `kafka_bootstrap`), or the one started by serve or the benchmark (`at_broker`)."""
        return self.embedded_broker or not self.kafka_bootstrap

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def is_postgres(self) -> bool:
        return self.database_url is not None and self.database_url.startswith("postgresql")

    @property
    def libpq_url(self) -> str | None:
        """The PostgreSQL database's URL as libpq (psycopg on its own) reads it, without
        SQLAlchemy's `+psycopg` driver suffix; None when the database is not PostgreSQL."""
        if not self.is_postgres:
            return None
        return libpq_form(self.sqlalchemy_url)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is None:
            return f"sqlite:///{(self.data_dir / 'digione.sqlite').resolve()}"
        if self.database_url.startswith("postgresql://"):
            return "postgresql+psycopg://" + self.database_url.removeprefix("postgresql://")
        return self.database_url


def describe_invalid(error: ValidationError) -> str:
    """What was wrong with the environment's settings, one line per variable, and what to
    do: for a command line to print instead of pydantic's traceback."""
    lines = []
    for problem in error.errors():
        field = "_".join(str(part) for part in problem["loc"])
        given = problem.get("input")
        # A URL may hold a password: its own check names the part that was wrong.
        shown = (
            f" is {given!r}"
            if isinstance(given, str | int | float) and not field.endswith("url")
            else ""
        )
        reason = problem["msg"].removeprefix("Value error, ")
        lines.append(f"DIGIONE_{field.upper()}{shown}: {reason}")
    lines.append(
        "Set it to an accepted value (README, Configuration), or unset it for the default."
    )
    return "\n".join(lines)


class _ExplicitSettings(Settings):
    """Settings that read only the values given to them (see `Settings.explicit`)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def libpq_form(url: str) -> str:
    """A PostgreSQL URL as libpq (psycopg on its own) reads it: SQLAlchemy's `+psycopg`
    driver suffix removed."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
