"""The bench says where a load's CPU went: each process of the system under test counted in
its part, what it spent between two samples and no more."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench import process_cpu
from bench.process_cpu import (
    PARTS,
    CpuTimes,
    CpuWatch,
    ProcessStat,
    _descendants,
    cores_used,
    cpu_summary,
    part_of,
    sample_cpu,
)

BENCH = 100


def _process(pid: int, parent: int, name: str, command: str = "") -> ProcessStat:
    return ProcessStat(pid=pid, parent=parent, name=name, command=command, cpu_seconds=0.0)


def test_the_server_its_worker_the_broker_and_postgres_are_each_their_own_part() -> None:
    processes = [
        _process(BENCH, 1, "digione", "python digione bench"),
        _process(101, BENCH, "python", "python -c from multiprocessing.spawn import spawn_main"),
        _process(102, 101, "python", "python -m api.worker"),
        _process(103, 101, "python", "python -c from multiprocessing.spawn import spawn_main"),
        _process(104, BENCH, "tansu", "/x/bin/tansu broker --cluster-id digione-embedded"),
        _process(105, BENCH, "python", "python -c from multiprocessing.resource_tracker import"),
        _process(200, 1, "postgres", "postgres: 15/main: postgres digione_h 127.0.0.1 idle"),
        _process(300, 1, "python", "python -m api.worker"),  # another installation's worker
        _process(301, 1, "tansu", "/x/bin/tansu broker"),  # another's broker
    ]
    descendants = _descendants(processes, BENCH)

    parts = {p.pid: part_of(p, bench=BENCH, descendants=descendants) for p in processes}

    assert parts == {
        BENCH: "load_generator",
        101: "http",
        102: "worker",
        103: "http",  # a uvicorn worker
        104: "broker",
        105: None,
        200: "postgres",
        300: None,
        301: None,
    }


def _times(at: float, machine: float, **processes: tuple[str, float]) -> CpuTimes:
    return CpuTimes(
        at=at,
        processes={int(pid.removeprefix("p")): spent for pid, spent in processes.items()},
        machine=machine,
    )


def test_each_process_counts_what_it_spent_between_the_samples_even_when_one_ended() -> None:
    before = _times(10.0, 100.0, p1=("http", 5.0), p2=("postgres", 40.0), p3=("postgres", 1.0))
    # p2 ended during the load (its 40 s go with it), p4 started (all of its time counts).
    after = _times(12.0, 103.0, p1=("http", 6.0), p3=("postgres", 1.5), p4=("postgres", 0.3))

    used = cores_used(before, after)

    assert used["http"] == pytest.approx(0.5)
    assert used["postgres"] == pytest.approx(0.4)
    assert used["worker"] == 0.0
    assert used["machine"] == pytest.approx(1.5)
    assert set(used) == {*PARTS, "machine"}


def test_samples_out_of_order_are_refused() -> None:
    sample = _times(10.0, 100.0)
    with pytest.raises(ValueError, match="after the first"):
        cores_used(sample, sample)


def test_the_summary_names_every_part_and_the_cpu_a_command_cost() -> None:
    cores = {"http": 0.6, "worker": 0.4, "postgres": 0.3, "broker": 0.1, "load_generator": 0.1}
    line = cpu_summary({**cores, "machine": 1.7}, per_second=200.0, of="a command")

    assert "HTTP 0.60, worker 0.40, PostgreSQL 0.30, broker 0.10, load generator 0.10" in line
    assert "the machine 1.70 of" in line
    assert line.endswith("7.5 ms of CPU a command")
    assert "of CPU" not in cpu_summary({**cores, "machine": 1.7}, per_second=0.0, of="x")


def test_a_relay_event_costs_microseconds_and_the_bench_process_is_named_for_what_it_did() -> None:
    cores = {"http": 0.0, "worker": 0.0, "postgres": 0.1, "broker": 0.3, "load_generator": 0.9}
    line = cpu_summary(
        {**cores, "machine": 1.4}, per_second=65_000.0, of="an event", bench_process="the relay"
    )

    assert "broker 0.30, the relay 0.90;" in line
    assert line.endswith("20.0 µs of CPU an event")


def test_without_a_proc_to_read_there_is_no_sample_and_the_watch_has_no_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_cpu, "_PROC", tmp_path)  # a machine without Linux's /proc

    with CpuWatch() as watch:
        pass

    assert sample_cpu(time.monotonic()) is None
    assert watch.cores is None


def test_a_busy_bench_process_shows_as_the_load_generator_on_this_machine() -> None:
    # The project runs on Linux (`make test` installs Debian's packages): /proc is there.
    before = sample_cpu(time.monotonic())
    began = time.process_time()
    while time.process_time() - began < 0.3:
        pass
    after = sample_cpu(time.monotonic())
    assert before is not None and after is not None

    used = cores_used(before, after)

    assert used["load_generator"] > 0.1
    assert used["machine"] >= used["load_generator"] * 0.5
