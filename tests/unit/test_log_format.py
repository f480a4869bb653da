"""`serve`'s log: JSON lines at the configured level, without the Kafka client's chatter."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.processes import ROOT

_EMIT = """
import logging
from api.log_format import configure
configure({level!r})
logging.getLogger("kafka.net.connection").info("connected to the broker")
logging.getLogger("kafka.net.connection").warning("the broker went away")
logging.getLogger("streams.relay").info("published 12 events")
from kafka.errors import Cancelled, KafkaConnectionError
logging.getLogger("kafka.cluster").error("Metadata refresh: failed %s", Cancelled())
logging.getLogger("kafka.cluster").error("Metadata refresh: failed %s", KafkaConnectionError("refused"))
for seconds in (0.187, 2.5):  # kafka-python's own text (kafka/net/selector.py)
    logging.getLogger("kafka.net.selector").warning(
        "Task %r ran for %.3fs (>%.3fs threshold). It is blocking the event loop -- likely a "
        "tight sync loop inside a coroutine. Other pollers will time out."
        % ("<Task>", seconds, 0.1)
    )
"""


def _logged(level: str) -> list[tuple[str, str]]:
    return [(logger, message) for logger, (_, message) in _logged_levels(level)]


def _logged_levels(level: str) -> list[tuple[str, tuple[str, str]]]:
    done = subprocess.run(
        [sys.executable, "-c", _EMIT.format(level=level)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    return [(line["logger"], (line["level"], line["message"])) for line in lines]


def test_the_kafka_clients_info_lines_stay_out_of_an_info_log_and_its_warnings_do_not() -> None:
    assert _logged("INFO") == [
        ("kafka.net.connection", "the broker went away"),
        ("streams.relay", "published 12 events"),
        ("kafka.cluster", "Metadata refresh: failed KafkaConnectionError: refused"),
        ("kafka.net.selector", _step(2.5)),
    ]


def _step(seconds: float) -> str:
    return (
        f"Task '<Task>' ran for {seconds:.3f}s (>0.100s threshold). It is blocking the event "
        "loop -- likely a tight sync loop inside a coroutine. Other pollers will time out."
    )


def test_a_step_of_the_kafka_clients_loop_a_busy_machine_slowed_is_no_warning() -> None:
    """Under a second it shows at DEBUG only; a stall of a second or more stays a warning."""
    steps = [m for logger, m in _logged_levels("DEBUG") if logger == "kafka.net.selector"]
    assert steps == [("DEBUG", _step(0.187)), ("WARNING", _step(2.5))]


def test_a_metadata_refresh_the_client_cancelled_at_close_is_no_error() -> None:
    """Every other failed refresh stays an error; the cancelled one shows at DEBUG."""
    refreshes = [m for logger, m in _logged_levels("DEBUG") if logger == "kafka.cluster"]
    assert refreshes == [
        ("DEBUG", "Metadata refresh: failed Cancelled"),
        ("ERROR", "Metadata refresh: failed KafkaConnectionError: refused"),
    ]


def test_a_debug_log_shows_the_kafka_clients_info_lines_too() -> None:
    assert ("kafka.net.connection", "connected to the broker") in _logged("DEBUG")


def test_an_error_log_shows_no_kafka_warning() -> None:
    # Only the refresh that failed; not the warning, nor the refresh the client cancelled.
    assert _logged("ERROR") == [
        ("kafka.cluster", "Metadata refresh: failed KafkaConnectionError: refused")
    ]
