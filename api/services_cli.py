"""`digione subscribe` and `digione fanout`: a service's stream from the command line, and
the service fan-out as a process of its own.

`subscribe` opens sealed personal fields with the service's key for each subject (derived
here as the keys endpoint derives it); once that key is destroyed (erasure, an ended
agreement) it prints `"personal_data": null` and `"sealed": "key destroyed"`."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer

from streams.kafka_transport import KafkaPythonReader, PartitionId
from streams.service_reader import decode_service_message
from streams.service_view import FORGET_TYPE, open_personal_data, service_topic

__all__ = ["fanout_app", "subscribe"]

fanout_app = typer.Typer(
    help="The service fan-out: run it (no subcommand), the events it parked, delivering them "
    "again.",
    invoke_without_command=True,
)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def requested(_signum: int, _frame: Any) -> None:
        stop.set()

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, requested)
    return stop


def subscribe(
    service_id: Annotated[str, typer.Argument(help="The service's id (its client's name).")],
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    from_beginning: Annotated[
        bool, typer.Option(help="Replay the service's topic from its start.")
    ] = False,
) -> None:
    """Print a service's events as JSON lines as they arrive; a forget notice drops what
    was kept of its subject (and says so). Needs DIGIONE_KAFKA_BOOTSTRAP."""
    from api.cli import _container, _fail

    container = _container()
    try:
        bootstrap = container.settings.kafka_bootstrap
        if not bootstrap:
            raise _fail(
                "set DIGIONE_KAFKA_BOOTSTRAP to the cluster `digione serve` publishes to "
                "(the embedded broker lives only inside serve)"
            )
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}")
        topic = service_topic(container.settings.topic_prefix, tenant, service_id)
        reader = KafkaPythonReader(
            bootstrap, client_id=f"digione-subscribe-{service_id}", max_poll_records=500,
            fetch_wait_ms=200,
        )  # fmt: skip
        stop = _stop_on_signals()
        try:
            while topic not in reader.topics():
                if stop.wait(1.0):
                    return
            at = PartitionId(topic, 0)
            reader.assign([at])
            if from_beginning:
                reader.seek_to_beginning(at)
            kept: dict[str, int] = {}
            keys: dict[str, bytes | None] = {}
            app = container.tenants.get(tenant)
            while not stop.is_set():
                for message in reader.poll(timeout_ms=500).get(at, []):
                    decoded = decode_service_message(container.codec.registry, message)
                    data = decoded["data"]
                    if decoded["eventType"] == FORGET_TYPE:
                        dropped = kept.pop(data["subject"], 0)
                        keys.pop(data["subject"], None)
                        decoded["forgot"] = {"subject": data["subject"], "events": dropped}
                    elif data.get("data_subject"):
                        subject = data["data_subject"]
                        kept[subject] = kept.get(subject, 0) + 1
                        if data.get("sealed_personal_data"):
                            if subject not in keys:
                                keys[subject] = app.service_view_key(
                                    service_id, subject, create=False
                                )
                            _unseal(data, keys[subject])
                    print(json.dumps(decoded, ensure_ascii=False), flush=True)
        finally:
            reader.close()
    finally:
        container.close()


def _unseal(data: dict[str, Any], key: bytes | None) -> None:
    """Replaces a view's sealed personal fields with what they hold (in place)."""
    sealed = data.pop("sealed_personal_data")
    if key is None:
        data["personal_data"], data["sealed"] = None, "key destroyed"
        return
    sealed["nonce"], sealed["ciphertext"] = (
        bytes.fromhex(sealed["nonce"]),
        bytes.fromhex(sealed["ciphertext"]),
    )
    data["personal_data"] = open_personal_data(key, sealed)


@fanout_app.callback()
def fanout(ctx: typer.Context) -> None:
    """Run the service fan-out in the foreground (beside `serve` with
    DIGIONE_SERVICE_FANOUT=false); stops on SIGTERM or Ctrl-C. Needs DIGIONE_KAFKA_BOOTSTRAP."""
    if ctx.invoked_subcommand is not None:
        return
    from api.cli import _container, _fail

    container = _container()
    try:
        running = container.runtime.fanout
        if not container.settings.kafka_bootstrap or running is None:
            raise _fail("set DIGIONE_KAFKA_BOOTSTRAP to the cluster the relay publishes to")
        stop = _stop_on_signals()
        running.start()
        while not stop.wait(0.5):
            if not running.is_running:
                # Too many errors in a row: start again after a pause (as the supervisor).
                stop.wait(2.0)
                running.start()
        running.stop()
    finally:
        container.close()


@fanout_app.command("parked")
def fanout_parked(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's events.")] = None,
) -> None:
    """List the events the fan-out could not route or deliver and moved past, with why."""
    from rich.console import Console
    from rich.table import Table

    from api.cli import _container, err

    container = _container()
    try:
        assert container.runtime.fanout is not None
        events = container.runtime.fanout.handler.parked(tenant)
        if not events:
            err.print("no parked events" + (f" in {tenant}" if tenant else ""))
            return
        table = Table("tenant", "position", "event type", "aggregate", "attempts", "why")
        for event in events:
            table.add_row(
                event.tenant, str(event.position), event.event_type, event.originator_id or "",
                str(event.attempts), event.reason,
            )  # fmt: skip
        Console().print(table)
        err.print(
            "fix the cause, then `digione fanout retry --tenant T [--position N]` delivers "
            "them as their basis holds now"
        )
    finally:
        container.close()


@fanout_app.command("retry")
def fanout_retry(
    tenant: Annotated[str, typer.Option(help="The tenant whose parked events to deliver.")],
    position: Annotated[
        int | None, typer.Option(help="Only the event at this store position.")
    ] = None,
) -> None:
    """Route and deliver parked events again, in store order (after later ones: a retried
    event comes out of order); the delivered ones leave the list. Needs
    DIGIONE_KAFKA_BOOTSTRAP."""
    from api.cli import _container, _fail, err

    container = _container()
    try:
        if not container.settings.kafka_bootstrap or container.runtime.fanout is None:
            raise _fail("set DIGIONE_KAFKA_BOOTSTRAP to the cluster the fan-out delivers to")
        if tenant not in container.tenants.ids():
            raise _fail(f"no tenant {tenant!r}; `digione tenant list` shows them")
        handler = container.runtime.fanout.handler
        parked = {e.position for e in handler.parked(tenant)}
        if not parked or (position is not None and position not in parked):
            raise _fail(
                f"nothing parked in {tenant}"
                + (f" at position {position}" if position is not None else "")
                + "; `digione fanout parked` lists what is"
            )
        try:
            delivered, still = handler.retry_parked(tenant, position)
        finally:
            handler.close()
        err.print(f"{delivered} delivered, {still} still parked")
        if still:
            raise typer.Exit(code=1)
    finally:
        container.close()
