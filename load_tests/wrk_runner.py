"""Running `wrk` against a server and reading its results."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from load_tests.base import WRK_SCRIPT, BenchError
from load_tests.cpu import children_cpu_seconds
from load_tests.processes import require_tool


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    latency_ms: dict[str, float]
    wrk_cpu_seconds: float

    @property
    def ok_per_second(self) -> float:
        return max(0, self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok_per_second": round(self.ok_per_second, 1)}


def run_wrk(
    url: str,
    bodies_file: Path,
    *,
    threads: int,
    connections: int,
    seconds: int,
    headers: Mapping[str, str],
    timeout_s: int = 10,
) -> WrkResult:
    """One wrk run POSTing the bodies of `bodies_file` to `url`; bounded by `seconds`."""
    wrk = require_tool("wrk")
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{max(1, seconds)}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(WRK_SCRIPT),
    ]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [url, "--", str(bodies_file)]
    cpu_before = children_cpu_seconds()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    cpu = children_cpu_seconds() - cpu_before
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["status_errors"],
        socket_errors=data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"],
        latency_ms={
            "mean": round(data["mean_us"] / 1000, 3),
            "p50": data["p50_us"] / 1000,
            "p90": data["p90_us"] / 1000,
            "p99": data["p99_us"] / 1000,
            "max": data["max_us"] / 1000,
        },
        wrk_cpu_seconds=round(cpu, 3),
    )


def write_lines(path: Path, bodies: Sequence[bytes]) -> Path:
    with path.open("wb") as out:
        for body in bodies:
            if b"\n" in body:
                raise ValueError("bodies must be single-line JSON")
            out.write(body + b"\n")
    return path
