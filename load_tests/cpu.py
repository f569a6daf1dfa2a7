"""CPU accounting per process group (psutil), in cores."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Mapping, Sequence

import psutil


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (None once it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine (all cores) has been busy since boot."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times) - idle)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


PidSource = Sequence[int] | Callable[[], Sequence[int]]


def postgres_backends(database: str) -> list[int]:
    """PostgreSQL server processes serving `database` (found by their process title,
    "postgres: [cluster: ]user database host state"), without asking the server."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or ())
        if title.startswith("postgres:") and f" {database} " in f"{title} ":
            found.append(process.pid)
    return found


class CpuMeter:
    """CPU used by groups of processes (and by the whole machine) between start and stop.

    Reported in cores (1.0 = one core busy all the time). A group is a list of pids or a
    function returning them (asked at start and at stop: a process that appeared meanwhile
    counts with all its CPU). `other` is what processes outside the benchmark used
    meanwhile: on a busy machine every number is noisier and lower.
    """

    def __init__(self, groups: Mapping[str, PidSource]) -> None:
        self.groups = dict(groups)
        self._start: tuple[float, float, dict[str, dict[int, float]]] | None = None

    def _sample(self) -> tuple[float, float, dict[str, dict[int, float]]]:
        per_group: dict[str, dict[int, float]] = {}
        for name, source in self.groups.items():
            pids = source() if callable(source) else source
            per_group[name] = {}
            for pid in pids:
                seconds = process_cpu_seconds(pid)
                if seconds is not None:
                    per_group[name][pid] = seconds
        return time.monotonic(), machine_busy_seconds(), per_group

    def start(self) -> None:
        self._start = self._sample()

    def stop(self, extra: Mapping[str, float] | None = None) -> dict[str, float]:
        """Cores used per group, plus `machine` and `other`; `extra`: CPU seconds of
        processes measured another way (the load generator)."""
        assert self._start is not None, "start() first"
        t0, busy0, groups0 = self._start
        t1, busy1, groups1 = self._sample()
        wall = max(t1 - t0, 1e-9)
        out: dict[str, float] = {}
        for name in self.groups:
            before, after = groups0[name], groups1[name]
            out[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) / wall
        for name, seconds in (extra or {}).items():
            out[name] = seconds / wall
        out["machine"] = (busy1 - busy0) / wall
        out["other"] = max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine"))
        return {k: round(v, 3) for k, v in out.items()}
