"""Where a load's CPU went: the CPU time of each part of the system under test, read from
/proc (Linux) before and after the load.

The parts are told apart by where they run: the bench's own process is the load generator;
among its descendants the broker is Tansu's process, the worker process runs `api.worker`,
and the rest (the server process and any uvicorn workers) serve HTTP; PostgreSQL is every
process named `postgres` on the machine (none when the database is elsewhere). `machine` is
the busy time of every core, whatever ran. Each process counts what it spent between the
two samples: one that ends during the load takes its time with it (PostgreSQL's connections
of the pools outlive a load), one that starts during it counts from its start.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "PARTS",
    "CpuTimes",
    "CpuWatch",
    "ProcessStat",
    "cores_used",
    "cpu_summary",
    "part_of",
    "sample_cpu",
]

#: The parts, in the order the report names them, and how it names them.
PARTS = ("http", "worker", "postgres", "broker", "load_generator")
_NAMES = {
    "http": "HTTP",
    "worker": "worker",
    "postgres": "PostgreSQL",
    "broker": "broker",
    "load_generator": "load generator",
}

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcessStat:
    """What /proc says of one process: its parent, its name, its command line, its CPU."""

    pid: int
    parent: int
    name: str
    command: str
    cpu_seconds: float


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds spent so far by each process of a part (by pid: its part and its
    seconds), and by the machine, at a wall-clock time."""

    at: float
    processes: Mapping[int, tuple[str, float]]
    machine: float


def part_of(process: ProcessStat, *, bench: int, descendants: frozenset[int]) -> str | None:
    """The part a process belongs to (see the module's doc), or None: another's process."""
    if process.pid == bench:
        return "load_generator"
    if process.pid in descendants:
        if "tansu" in process.name or "tansu" in process.command:
            return "broker"
        if "api.worker" in process.command:
            return "worker"
        if "resource_tracker" in process.command:
            return None  # multiprocessing's bookkeeping
        return "http"
    if process.name == "postgres":
        return "postgres"
    return None


def _descendants(processes: list[ProcessStat], root: int) -> frozenset[int]:
    children: dict[int, list[int]] = {}
    for process in processes:
        children.setdefault(process.parent, []).append(process.pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)


def _read_process(directory: Path) -> ProcessStat | None:
    try:
        stat = (directory / "stat").read_text()
        command = (directory / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # it ended meanwhile, or it is not ours to read
        return None
    # The name is in parentheses and may hold spaces or parentheses itself.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    # After the name: state, ppid, …; utime and stime are the 14th and 15th fields.
    return ProcessStat(
        pid=int(directory.name),
        parent=int(fields[1]),
        name=name,
        command=command,
        cpu_seconds=(int(fields[11]) + int(fields[12])) / _TICKS,
    )


def _machine_busy_seconds() -> float:
    # cpu user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
    values = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _TICKS


def sample_cpu(at: float) -> CpuTimes | None:
    """The CPU spent so far by each part and by the machine; None without a /proc to read."""
    if not (_PROC / "stat").exists():
        return None
    processes = [
        process
        for entry in _PROC.iterdir()
        if entry.name.isdigit() and (process := _read_process(entry)) is not None
    ]
    bench = os.getpid()
    descendants = _descendants(processes, bench)
    parts = {}
    for process in processes:
        part = part_of(process, bench=bench, descendants=descendants)
        if part is not None:
            parts[process.pid] = (part, process.cpu_seconds)
    return CpuTimes(at=at, processes=parts, machine=_machine_busy_seconds())


def cores_used(before: CpuTimes, after: CpuTimes) -> dict[str, float]:
    """How many cores each part, and the machine, kept busy between two samples on average."""
    seconds = after.at - before.at
    if seconds <= 0:
        raise ValueError("the second sample must come after the first")
    spent = dict.fromkeys(PARTS, 0.0)
    for pid, (part, cpu_seconds) in after.processes.items():
        earlier = before.processes.get(pid)
        spent[part] += cpu_seconds - (earlier[1] if earlier is not None else 0.0)
    used = {part: max(0.0, value) / seconds for part, value in spent.items()}
    used["machine"] = max(0.0, after.machine - before.machine) / seconds
    return used


class CpuWatch:
    """`cores_used` over the `with` block: `cores` once it is left (None without /proc)."""

    def __init__(self) -> None:
        self._before: CpuTimes | None = None
        self.cores: dict[str, float] | None = None

    def __enter__(self) -> Self:
        self._before = sample_cpu(time.monotonic())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        after = sample_cpu(time.monotonic())
        if self._before is not None and after is not None:
            self.cores = cores_used(self._before, after)


def cpu_summary(
    cores: Mapping[str, float],
    *,
    per_second: float,
    of: str,
    bench_process: str = "load generator",
) -> str:
    """The line the report prints: the cores each part kept busy, the machine's, and the CPU
    `of` (done `per_second`, "a command") cost in all the parts; `bench_process` names what the
    bench's own process did meanwhile."""
    names = _NAMES | {"load_generator": bench_process}
    parts = ", ".join(f"{names[part]} {cores[part]:.2f}" for part in PARTS)
    line = f"cores busy: {parts}; the machine {cores['machine']:.2f} of {os.cpu_count()}"
    if per_second > 0:
        each = sum(cores[part] for part in PARTS) / per_second
        cost = f"{each * 1000:.1f} ms" if each >= 0.001 else f"{each * 1e6:.1f} µs"
        line += f"; these parts {cost} of CPU {of}"
    return line
