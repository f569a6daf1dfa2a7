"""Backpressure: Redis memory stays under the configured bound while workers are stopped.

Starts the real `helpstream api` with `max_backlog_click_bytes` = `--bound-bytes` and no
worker, POSTs click batches from `--connections` clients for `--seconds`, and samples Redis
(`INFO memory` used_memory, and `MEMORY USAGE` of the click streams) every 50 ms. Past the
bound the API must answer 503 + Retry-After. Then a real `helpstream worker` starts; the
clients keep trying until a 202 comes back (the backlog drained), and every 202'd event
must be applied exactly once (rows in `clicks` = events accepted).

Bounded: the ingest phase lasts `--seconds`, the drain at most `--drain-seconds`, the whole
run at most `--max-seconds`; loopback servers only (see isolation.py). Tiny for CI:
`python -m load_tests.backpressure --embedded --seconds 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from helpstream.aio import run_on_fastest_loop
from helpstream.streams import stream_key
from load_tests.args import add_common_arguments, bench_main
from load_tests.base import BenchError
from load_tests.isolation import BenchEnv, auth_headers
from load_tests.output import num, stage, table, write_results

NAME = "backpressure"
MEMORY_ALLOWANCE = 4 * 1024 * 1024  # Redis's own buffers (client query buffers, AOF)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_events: int = 0
    retry_after_missing: int = 0
    max_payload: int = 0
    first_202_after_worker: float | None = None
    next_customer: int = 0


@dataclass
class Peaks:
    used_memory: int = 0
    stream_bytes: int = 0
    samples: int = 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m load_tests.{NAME}", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--seconds", type=float, default=20.0, help="ingest with no worker")
    parser.add_argument("--drain-seconds", type=float, default=120.0)
    parser.add_argument("--bound-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--batch-size", type=int, default=500, help="clicks per request")
    parser.add_argument("--connections", type=int, default=4, help="concurrent clients")
    return parser


def batch(tally: Tally, size: int) -> bytes:
    first, tally.next_customer = tally.next_customer, tally.next_customer + size
    events = [
        {
            "timestamp": 1515764691 + i % 600,
            "customer_id": first + i,
            "source_page_id": 11,
            "target_page_id": 28,
            "event_id": str(uuid.uuid4()),
        }
        for i in range(size)
    ]
    return orjson.dumps({"events": events})


async def client_loop(
    client: httpx.AsyncClient, tally: Tally, args: argparse.Namespace, until: asyncio.Event
) -> None:
    """POST batches until ``until`` is set; 503s are paced by their Retry-After (capped)."""
    while not until.is_set():
        body = batch(tally, args.batch_size)
        tally.max_payload = max(tally.max_payload, len(body))
        response = await client.post("/v1/clicks/batch", content=body)
        tally.statuses[response.status_code] += 1
        if response.status_code == 202:
            tally.accepted_events += response.json()["accepted"]
        elif response.status_code == 503:
            if "retry-after" not in response.headers:
                tally.retry_after_missing += 1
            await asyncio.sleep(0.05)  # a real client waits Retry-After; 50 ms keeps pressure
        else:
            raise BenchError(f"unexpected {response.status_code}: {response.text[:200]}")


async def sample(redis: Any, partitions: int, peaks: Peaks, stop: asyncio.Event) -> None:
    while not stop.is_set():
        used = int((await redis.info("memory"))["used_memory"])
        streams = 0
        for p in range(partitions):
            streams += await redis.memory_usage(stream_key(p, "clicks"), samples=0) or 0
        peaks.used_memory = max(peaks.used_memory, used)
        peaks.stream_bytes = max(peaks.stream_bytes, streams)
        peaks.samples += 1
        await asyncio.sleep(0.05)


async def applied(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM clicks")
        return count
    finally:
        await conn.close()


async def measure(env: BenchEnv, args: argparse.Namespace, url: str, key: str) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(env.redis_url)
    tally, peaks = Tally(), Peaks()
    try:
        baseline = int((await redis.info("memory"))["used_memory"])
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample(redis, env.partitions, peaks, stop_sampling))
        async with httpx.AsyncClient(base_url=url, headers=auth_headers(key), timeout=30) as client:
            with stage(f"ingest for {args.seconds:.0f}s with no worker"):
                stop = asyncio.Event()
                clients = [
                    asyncio.create_task(client_loop(client, tally, args, stop))
                    for _ in range(args.connections)
                ]
                await asyncio.sleep(args.seconds)
                stop.set()
                await asyncio.gather(*clients)
            stopped = dict(tally.statuses)
            refused_while_stopped = tally.statuses[503]

            with stage("start a worker; ingest until a 202 comes back"):
                env.start_worker()
                started = time.monotonic()
                tally.statuses.clear()
                deadline = started + args.drain_seconds
                while time.monotonic() < deadline:
                    response = await client.post(
                        "/v1/clicks/batch", content=batch(tally, args.batch_size)
                    )
                    tally.statuses[response.status_code] += 1
                    if response.status_code == 202:
                        tally.accepted_events += response.json()["accepted"]
                        tally.first_202_after_worker = time.monotonic() - started
                        break
                    await asyncio.sleep(0.1)
        stop_sampling.set()
        await sampler

        with stage("wait until every accepted event is applied"):
            deadline = time.monotonic() + args.drain_seconds
            count = await applied(env.database_url)
            while count < tally.accepted_events and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                count = await applied(env.database_url)
    finally:
        await redis.aclose()

    slack = args.connections * tally.max_payload  # requests in flight when the bound is hit
    stream_limit = args.bound_bytes + slack
    memory_limit = args.bound_bytes + slack + MEMORY_ALLOWANCE
    checks = {
        "refused past the bound (503)": refused_while_stopped > 0,
        "every 503 had Retry-After": tally.retry_after_missing == 0,
        "stream memory under bound + in-flight": peaks.stream_bytes <= stream_limit,
        "used_memory growth under bound + in-flight + 4 MiB": (
            peaks.used_memory - baseline <= memory_limit
        ),
        "202 again once drained": tally.first_202_after_worker is not None,
        "every 202'd event applied once": count == tally.accepted_events,
    }
    return {
        "parameters": {
            "seconds": args.seconds,
            "bound_bytes": args.bound_bytes,
            "batch_size": args.batch_size,
            "connections": args.connections,
            "partitions": env.partitions,
        },
        "statuses_with_no_worker": stopped,
        "statuses_after_worker_start": dict(tally.statuses),
        "accepted_events": tally.accepted_events,
        "applied_events": count,
        "baseline_used_memory": baseline,
        "peak_used_memory": peaks.used_memory,
        "peak_used_memory_growth": peaks.used_memory - baseline,
        "peak_click_stream_bytes": peaks.stream_bytes,
        "stream_limit_bytes": stream_limit,
        "memory_limit_bytes": memory_limit,
        "samples": peaks.samples,
        "seconds_to_first_202_after_worker_start": tally.first_202_after_worker,
        "checks": checks,
        "verdict": "PASS" if all(checks.values()) else "MISS",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with BenchEnv(args, NAME) as env:
        env.settings["MAX_BACKLOG_CLICK_BYTES"] = str(args.bound_bytes)
        (key,) = env.keys("ingest")
        with stage("start the API (no worker)"):
            _, url = env.start_api()
        result = run_on_fastest_loop(measure(env, args, url, key))
    mib = 1024 * 1024
    print(
        table(
            ["", "value"],
            [
                ["bound (click streams)", f"{num(args.bound_bytes / mib, 1)} MiB"],
                [
                    "peak click stream memory",
                    f"{num(result['peak_click_stream_bytes'] / mib, 1)} MiB",
                ],
                [
                    "peak used_memory growth",
                    f"{num(result['peak_used_memory_growth'] / mib, 1)} MiB",
                ],
                ["statuses, no worker", str(result["statuses_with_no_worker"])],
                ["statuses, worker started", str(result["statuses_after_worker_start"])],
                [
                    "accepted / applied events",
                    f"{result['accepted_events']} / {result['applied_events']}",
                ],
            ],
        )
    )
    for name, ok in result["checks"].items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    print(f"verdict: {result['verdict']}  ({write_results(NAME, result)})")
    return result


def main(argv: list[str] | None = None) -> int:
    return bench_main(NAME, build_parser, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
