"""CPU accounting per process group (psutil), in cores."""

from __future__ import annotations

import resource
import threading
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
    function returning them. `other` is what processes outside the benchmark used
    meanwhile: on a busy machine every number is noisier and lower.

    Between start and stop a thread samples every group each ``every`` seconds, so that a
    process that comes and goes meanwhile (a PostgreSQL backend the pool opens and closes,
    an autovacuum worker) counts with the CPU it had used when last seen. Sampling only at
    start and stop lost it: over a 10-minute run PostgreSQL showed 0.02 cores and `other`
    0.68, because the pool's connections had been replaced by then.
    """

    def __init__(self, groups: Mapping[str, PidSource], every: float = 1.0) -> None:
        self.groups = dict(groups)
        self.every = every
        self._t0 = self._busy0 = 0.0
        self._first: dict[str, dict[int, float]] = {}  # CPU seconds at start, or 0.0
        self._last: dict[str, dict[int, float]] = {}  # CPU seconds when last seen
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False

    def _sample(self) -> None:
        for name, source in self.groups.items():
            pids = source() if callable(source) else source
            for pid in pids:
                seconds = process_cpu_seconds(pid)
                if seconds is None:
                    continue
                with self._lock:
                    self._first[name].setdefault(pid, 0.0 if self._started else seconds)
                    self._last[name][pid] = seconds

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def start(self) -> None:
        self._first = {name: {} for name in self.groups}
        self._last = {name: {} for name in self.groups}
        self._started = False
        self._sample()  # processes alive now count from here, later ones from their start
        self._started = True
        self._t0, self._busy0 = time.monotonic(), machine_busy_seconds()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self, extra: Mapping[str, float] | None = None) -> dict[str, float]:
        """Cores used per group, plus `machine` and `other`; `extra`: CPU seconds of
        processes measured another way (the load generator)."""
        assert self._thread is not None, "start() first"
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._sample()
        wall = max(time.monotonic() - self._t0, 1e-9)
        busy = machine_busy_seconds() - self._busy0
        out: dict[str, float] = {}
        for name in self.groups:
            first, last = self._first[name], self._last[name]
            out[name] = sum(cpu - first[pid] for pid, cpu in last.items()) / wall
        for name, seconds in (extra or {}).items():
            out[name] = seconds / wall
        out["machine"] = busy / wall
        out["other"] = max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine"))
        return {k: round(v, 3) for k, v in out.items()}
