"""Tables, numbers and result files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from load_tests.base import RESULTS_DIR, SERVER_INFO


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        out = []
        for i, cell in enumerate(row):
            numeric = i > 0 and cell.lstrip("-+<>= ")[:1].isdigit()
            out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), rule, *(fmt(r) for r in cells[1:])])


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    if value != value:  # NaN: nothing measured
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            name: _version(name)
            for name in (
                "fastapi",
                "starlette",
                "uvicorn",
                "uvloop",
                "httptools",
                "pydantic",
                "redis",
                "asyncpg",
                "orjson",
            )
        },
    }


def write_results(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "servers": dict(SERVER_INFO),
        **payload,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def busy_warning(cpu: Mapping[str, float]) -> str | None:
    other = cpu.get("other", 0.0)
    if other > 0.25:
        return (
            f"note: other processes used {other:.2f} cores during this measurement; "
            "numbers are lower and noisier than on an idle machine"
        )
    return None


@contextlib.contextmanager
def stage(title: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"... {title}", flush=True)
    yield
    print(f"    done in {time.monotonic() - started:.1f}s", flush=True)
