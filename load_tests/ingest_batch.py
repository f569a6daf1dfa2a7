"""Batch ingest: `POST /v1/clicks/batch` (1,000 events a request) events/s against raw
pipelined XADD entries/s.

Baselines, on the same Redis, with entries carrying one event's stream payload:
* `redis-benchmark -P 64 -c 50 XADD` (the design notes' reference; the ratio's denominator);
* redis-py (asyncio, one connection) executing pipelines of 1,000 XADDs: what a Python
  client can push, for context.
The app is driven by wrk with pre-generated batch bodies. The ratio is
median(app events/s) / median(redis-benchmark entries/s); the target is >= 0.5 (issue 16).

    python -m load_tests.ingest_batch [--seconds 8 --rounds 2 --connections 8 --profile]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from typing import Any

import redis.asyncio as aioredis

from helpstream.aio import run_on_fastest_loop
from load_tests.args import add_common_arguments, bench_main
from load_tests.base import BenchError
from load_tests.events import batch_bodies, click_stream, wire_payload_of_one
from load_tests.isolation import BenchEnv, auth_headers, redis_db
from load_tests.output import median, num, stage, table, verdict, write_results
from load_tests.processes import require_tool
from load_tests.profiles import print_profile
from load_tests.wrk_bench import measure, profile, start_target, trim_streams
from load_tests.wrk_runner import write_lines

NAME = "ingest_batch"
TARGET_RATIO = 0.5
PATH = "/v1/clicks/batch"
XADD_KEY = "bench:xadd"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m load_tests.{NAME}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=int, default=8, help="measured wrk run length")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up before each run")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/app alternations")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per request")
    parser.add_argument("--bodies", type=int, default=16, help="distinct batch bodies")
    parser.add_argument(
        "--xadd-requests", type=int, default=500_000, help="redis-benchmark -n (XADDs)"
    )
    parser.add_argument("--xadd-pipeline", type=int, default=64, help="redis-benchmark -P")
    parser.add_argument("--xadd-clients", type=int, default=50, help="redis-benchmark -c")
    parser.add_argument(
        "--py-pipelines", type=int, default=300, help="redis-py baseline: at most this many "
    )
    parser.add_argument("--py-pipeline-size", type=int, default=1000, help="XADDs per pipeline")
    parser.add_argument(
        "--py-seconds", type=float, default=3.0, help="redis-py baseline: at most this long"
    )
    add_common_arguments(parser)
    return parser


def redis_benchmark_xadd(env: BenchEnv, payload: bytes, args: argparse.Namespace) -> float:
    """entries/s of `redis-benchmark -P N XADD bench:xadd * b <payload>`."""
    tool = require_tool("redis-benchmark")
    from urllib.parse import urlsplit

    parts = urlsplit(env.redis_url)
    argv = [
        tool,
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 6379),
        "--dbnum",
        str(redis_db(env.redis_url)),
        "-n",
        str(args.xadd_requests),
        "-c",
        str(args.xadd_clients),
        "-P",
        str(args.xadd_pipeline),
        "-q",
        "XADD",
        XADD_KEY,
        "*",
        "b",
        payload.decode(),
    ]
    if parts.password:
        argv[1:1] = ["-a", parts.password]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    _delete_xadd_key(env)
    # -q prints "<command>: 123456.78 requests per second, p50=..." (the payload's quotes
    # and commas make its --csv output unparsable).
    rates = re.findall(r"([0-9.]+) requests per second", proc.stdout)
    if proc.returncode == 0 and rates:
        return float(rates[-1])
    raise BenchError(f"redis-benchmark failed ({proc.returncode}): {proc.stdout}{proc.stderr}")


def redis_py_pipelines(env: BenchEnv, payload: bytes, args: argparse.Namespace) -> float:
    """entries/s of redis-py pipelines of `--py-pipeline-size` XADDs (one connection)."""

    async def go() -> float:
        client = aioredis.Redis.from_url(env.redis_url)
        try:
            done = 0
            started = time.perf_counter()
            deadline = started + args.py_seconds
            for _ in range(args.py_pipelines):
                async with client.pipeline(transaction=False) as pipe:
                    for _ in range(args.py_pipeline_size):
                        pipe.xadd(XADD_KEY, {b"b": payload})
                    await pipe.execute()
                done += args.py_pipeline_size
                if time.perf_counter() > deadline:
                    break
            elapsed = time.perf_counter() - started
            await client.delete(XADD_KEY)
            return done / elapsed
        finally:
            await client.aclose()

    return run_on_fastest_loop(go())


def _delete_xadd_key(env: BenchEnv) -> None:
    async def go() -> None:
        client = aioredis.Redis.from_url(env.redis_url)
        try:
            await client.delete(XADD_KEY)
        finally:
            await client.aclose()

    run_on_fastest_loop(go())


def run(args: argparse.Namespace) -> dict[str, Any]:
    require_tool("wrk")
    require_tool("redis-benchmark")
    with BenchEnv(args, NAME) as env:
        (ingest_key,) = env.keys("ingest")
        headers = auth_headers(ingest_key)
        clicks = click_stream(args.batch_size * args.bodies, args.seed)
        bodies = write_lines(env.workdir / "batches.jsonl", batch_bodies(clicks, args.batch_size))
        payload = wire_payload_of_one(clicks[0])
        with stage("starting helpstream api"):
            app = start_target(env, "app", "auto")
        rounds: list[dict[str, Any]] = []
        profile_out: dict[str, Any] = {}
        for round_no in range(1, args.rounds + 1):
            with stage(f"round {round_no}/{args.rounds}: redis-benchmark XADD"):
                bench_rate = redis_benchmark_xadd(env, payload, args)
            with stage(f"round {round_no}/{args.rounds}: redis-py pipelines"):
                py_rate = redis_py_pipelines(env, payload, args)
            with stage(f"round {round_no}/{args.rounds}: app, {args.batch_size}-event batches"):
                result = measure(
                    env,
                    app,
                    PATH,
                    bodies,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    threads=args.threads,
                    connections=args.connections,
                    headers=headers,
                )
                trim_streams(env)
            events = result["ok_per_second"] * args.batch_size
            print(
                f"    redis-benchmark {num(bench_rate)} XADD/s, redis-py {num(py_rate)} XADD/s, "
                f"app {num(events)} events/s ({result['non_2xx']} non-2xx, "
                f"other load {result['cpu_cores']['other']:.2f} cores)"
            )
            rounds.append(
                {
                    "redis_benchmark_entries_per_s": round(bench_rate, 1),
                    "redis_py_entries_per_s": round(py_rate, 1),
                    "app_events_per_s": round(events, 1),
                    "app": result,
                }
            )
        if args.profile:
            with stage("profiling the API with py-spy"):
                summary, rate = profile(
                    env,
                    app,
                    PATH,
                    bodies,
                    tag=NAME,
                    seconds=args.seconds,
                    threads=args.threads,
                    connections=args.connections,
                    headers=headers,
                )
                trim_streams(env)
            if summary is not None:
                print_profile(summary)
                profile_out = {
                    "events_per_s_while_profiled": rate * args.batch_size,
                    **vars(summary),
                }
    return _report(args, rounds, profile_out, env.redis_config)


def _report(
    args: argparse.Namespace,
    rounds: list[dict[str, Any]],
    profile_out: dict[str, Any],
    redis_config: dict[str, str],
) -> dict[str, Any]:
    bench = median([r["redis_benchmark_entries_per_s"] for r in rounds])
    py = median([r["redis_py_entries_per_s"] for r in rounds])
    app = median([r["app_events_per_s"] for r in rounds])
    ratio = app / bench if bench else float("nan")
    apps = [r["app"] for r in rounds]
    print(
        f"\n{NAME}: POST {PATH} ({args.batch_size} events), wrk -t{args.threads} "
        f"-c{args.connections} -d{args.seconds}s; Redis appendonly={redis_config.get('appendonly')}"
    )
    print(
        table(
            ["measurement", "per second (median)", "per round"],
            [
                [
                    f"redis-benchmark -P {args.xadd_pipeline} XADD (entries)",
                    num(bench),
                    " / ".join(num(r["redis_benchmark_entries_per_s"]) for r in rounds),
                ],
                [
                    f"redis-py pipelines of {args.py_pipeline_size} XADD (entries)",
                    num(py),
                    " / ".join(num(r["redis_py_entries_per_s"]) for r in rounds),
                ],
                [
                    "app batch ingest (events)",
                    num(app),
                    " / ".join(num(r["app_events_per_s"]) for r in rounds),
                ],
                [
                    "app batch ingest (requests)",
                    num(app / args.batch_size, 1),
                    f"p50 {median([a['latency_ms']['p50'] for a in apps]):.1f} ms, "
                    f"p99 {median([a['latency_ms']['p99'] for a in apps]):.1f} ms, "
                    f"errors {sum(a['non_2xx'] + a['socket_errors'] for a in apps)}",
                ],
                [
                    "CPU during app runs (cores)",
                    f"{median([a['cpu_cores']['server'] for a in apps]):.2f}",
                    f"api; redis {median([a['cpu_cores']['redis'] for a in apps]):.2f}, "
                    f"wrk {median([a['cpu_cores']['wrk'] for a in apps]):.2f}, other "
                    f"{max(a['cpu_cores']['other'] for a in apps):.2f}",
                ],
            ],
        )
    )
    py_ratio = app / py if py else float("nan")
    print(
        table(
            ["ratio", "value", "target", "verdict"],
            [
                [
                    "app events/s / redis-benchmark XADD/s",
                    f"{ratio:.3f}",
                    f">= {TARGET_RATIO}",
                    verdict(ratio, TARGET_RATIO),
                ],
                ["app events/s / redis-py XADD/s", f"{py_ratio:.3f}", "(context)", ""],
            ],
        )
    )
    payload = {
        "ratio": round(ratio, 4),
        "target": TARGET_RATIO,
        "verdict": verdict(ratio, TARGET_RATIO),
        "ratio_to_redis_py": round(py_ratio, 4),
        "redis": redis_config,
        "parameters": vars(args),
        "rounds": rounds,
        "profile": profile_out,
    }
    path = write_results(NAME, payload)
    print(f"results: {path}")
    return payload


def main(argv: list[str] | None = None) -> int:
    return bench_main(NAME, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
