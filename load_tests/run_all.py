"""Run every benchmark with modest defaults (about 3 minutes on 2 cores) and print one table.

Each benchmark runs as its own process (`python -m load_tests.<name> ...`), one after the
other, so a failure in one does not stop the rest; their JSON results are combined into
load_tests/results/summary.json.

    python -m load_tests.run_all [--embedded] [--profile] [--only ingest_single,latency]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from load_tests.base import REPO_ROOT, RESULTS_DIR
from load_tests.output import machine_info, median, num, table, write_results

# name -> arguments that keep the whole run within a few minutes
DEFAULTS: dict[str, list[str]] = {
    "ingest_single": ["--seconds", "6", "--warmup", "2", "--rounds", "2"],
    "ingest_batch": ["--seconds", "6", "--warmup", "2", "--rounds", "2"],
    "sessionize": ["--events", "100000", "--copy-rounds", "3"],
    "latency": ["--seconds", "20", "--warmup", "2"],
}
TIME_LIMITS = {"ingest_single": 240, "ingest_batch": 240, "sessionize": 300, "latency": 240}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m load_tests.run_all", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--only", default=",".join(DEFAULTS), help="comma-separated subset (default: all)"
    )
    parser.add_argument("--embedded", action="store_true", help="passed to every benchmark")
    parser.add_argument("--profile", action="store_true", help="passed to every benchmark")
    parser.add_argument("--database-url", help="passed to every benchmark")
    parser.add_argument("--redis-url", help="passed to every benchmark")
    parser.add_argument("--check", action="store_true", help="exit 1 when any target is missed")
    return parser


def _common_args(args: argparse.Namespace) -> list[str]:
    out = []
    if args.embedded:
        out.append("--embedded")
    if args.profile:
        out.append("--profile")
    if args.database_url:
        out += ["--database-url", args.database_url]
    if args.redis_url:
        out += ["--redis-url", args.redis_url]
    return out


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def _row(name: str, data: dict[str, Any] | None, status: str) -> list[str]:
    if data is None:
        return [name, "-", "-", "-", "-", status]
    if name == "ingest_single":
        s = data["summary"].get("auto") or next(iter(data["summary"].values()))
        medians = s["median_ok_req_per_s"]
        return [
            name,
            f"{num(medians['app'])} req/s",
            f"bare uvicorn {num(medians['bare'])} req/s",
            f"{data['ratio']:.3f}",
            f">= {data['target']}",
            data["verdict"],
        ]
    if name == "ingest_batch":
        bench = median([r["redis_benchmark_entries_per_s"] for r in data["rounds"]])
        app = median([r["app_events_per_s"] for r in data["rounds"]])
        return [
            name,
            f"{num(app)} events/s",
            f"redis-benchmark XADD {num(bench)}/s",
            f"{data['ratio']:.3f}",
            f">= {data['target']}",
            data["verdict"],
        ]
    if name == "sessionize":
        return [
            name,
            f"{num(data['worker']['events_per_s'])} events/s",
            f"asyncpg COPY {num(data['copy']['no_indexes']['rows_per_s'])} rows/s",
            f"{data['ratio']:.3f}",
            f">= {data['target']}",
            data["verdict"],
        ]
    return [
        name,
        f"p50 {data['p50_s'] * 1000:.0f} / p95 {data['p95_s'] * 1000:.0f} ms",
        f"{num(data['accepted_events'])} events at {num(data['parameters']['rate'])}/s",
        f"p99 {data['p99_s'] * 1000:.0f} ms",
        f"<= {data['target_p99_s'] * 1000:.0f} ms",
        data["verdict"],
    ]


def _context(names: list[str], seconds: float) -> str:
    """Run time, machine and server settings, in one line."""
    info = machine_info()
    load = "/".join(f"{x:.1f}" for x in info["loadavg_1m_5m_15m"])
    text = f"{seconds:.0f}s, {info['cpus']} CPUs, load average {load}"
    for name in names:
        data = _load(name)
        if data and data.get("servers"):
            pg = data["servers"].get("postgres", {})
            redis = data["servers"].get("redis", {})
            text += (
                f"; PostgreSQL {pg.get('server_version', '?')} (autovacuum "
                f"{pg.get('autovacuum', '?')}), Redis {redis.get('redis_version', '?')} "
                f"(appendonly {redis.get('appendonly', '?')})"
            )
            break
    return text


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEFAULTS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    statuses: dict[str, str] = {}
    started = time.monotonic()
    for name in names:
        argv_ = [sys.executable, "-m", f"load_tests.{name}", *DEFAULTS[name], *_common_args(args)]
        limit = TIME_LIMITS[name] * (2 if args.profile else 1)
        argv_ += ["--max-seconds", str(limit)]
        print(f"\n=== {name}: {' '.join(argv_[1:])}", flush=True)
        (RESULTS_DIR / f"{name}.json").unlink(missing_ok=True)
        began = time.monotonic()
        try:
            code = subprocess.run(argv_, cwd=REPO_ROOT, timeout=limit + 60).returncode
        except subprocess.TimeoutExpired:
            code = -1
        statuses[name] = "ok" if code == 0 else f"failed ({code})"
        print(f"=== {name}: {statuses[name]} in {time.monotonic() - began:.0f}s", flush=True)

    rows = []
    summary: dict[str, Any] = {}
    for name in names:
        data = _load(name) if statuses[name] == "ok" else None
        row = _row(name, data, statuses[name])
        rows.append(row)
        summary[name] = {"status": statuses[name], "verdict": row[-1], "row": row}
    print(f"\nhelpstream load tests: {_context(names, time.monotonic() - started)}")
    print(table(["benchmark", "measured", "baseline", "ratio / p99", "target", "verdict"], rows))
    path = write_results("summary", {"results": summary})
    print(f"results: {path}")
    missed = any(s["verdict"] != "PASS" for s in summary.values())
    failed = any(s["status"] != "ok" for s in summary.values())
    return 2 if failed else (1 if args.check and missed else 0)


if __name__ == "__main__":
    sys.exit(main())
