"""End-to-end latency: from a 202 to visibility in `GET /v1/paths` at a sustained rate.

`helpstream api` and one `helpstream worker` run as separate processes. A paced client
POSTs batches (default 50 batches of 100 events a second = 5,000 events/s) on an absolute
schedule for `--seconds`. For every `--sample-every`-th batch after the warm-up, the last
event's customer is polled (`GET /v1/paths?customer_id=...`, every `--poll` seconds) until
a path of that customer ends at or after the event's timestamp: events of one customer are
sent in time order and applied in stream order, so that is the moment the event became
visible. Latency = that response's arrival - the batch's 202 (so it includes up to one poll
interval plus one GET). Target: p99 <= 1 s.

    python -m load_tests.latency [--rate 5000 --batch-size 100 --seconds 20 --profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
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
from load_tests.cpu import CpuMeter
from load_tests.events import click_stream
from load_tests.isolation import BenchEnv, auth_headers
from load_tests.output import num, percentile, stage, table, verdict, write_results
from load_tests.profiles import Profiler, ProfileSummary, print_profile

NAME = "latency"
TARGET_P99_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m load_tests.{NAME}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rate", type=int, default=5000, help="events per second")
    parser.add_argument("--batch-size", type=int, default=100, help="events per request")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured sending time")
    parser.add_argument("--warmup", type=float, default=2.0, help="unsampled sending first")
    parser.add_argument("--sample-every", type=int, default=5, help="probe every n-th batch")
    parser.add_argument("--poll", type=float, default=0.02, help="visibility poll interval (s)")
    parser.add_argument(
        "--window", type=float, default=5.0, help="width of the per-window table rows (s)"
    )
    parser.add_argument(
        "--visibility-timeout", type=float, default=10.0, help="give up on a probe after (s)"
    )
    parser.add_argument("--read-keys", type=int, default=8, help="read keys polls rotate over")
    parser.add_argument("--max-in-flight", type=int, default=256, help="POSTs in flight at most")
    add_common_arguments(parser)
    return parser


@dataclass
class Probe:
    batch: int
    customer_id: int
    timestamp: int
    due: float
    acked: float = 0.0
    visible: float | None = None
    polls: int = 0


@dataclass
class Tally:
    post_latencies: list[float] = field(default_factory=list)
    post_status: dict[int, int] = field(default_factory=dict)
    post_errors: int = 0
    skipped: int = 0
    polls: int = 0
    poll_status: dict[int, int] = field(default_factory=dict)
    backlog: list[tuple[float, int]] = field(default_factory=list)
    # (t, open paths, dead tuples in `paths`): per-batch statements that scan open paths or
    # walk bloated indexes get slower as these grow.
    paths_state: list[tuple[float, int, int]] = field(default_factory=list)
    # (t, Redis used_memory bytes): flat while the worker keeps up and trims what it applied.
    redis_memory: list[tuple[float, int]] = field(default_factory=list)


def plan(args: argparse.Namespace) -> tuple[list[bytes], list[Probe | None]]:
    """Request bodies in send order, and the probe (if any) of each."""
    batches = int((args.seconds + args.warmup) * args.rate / args.batch_size)
    clicks = click_stream(batches * args.batch_size, args.seed)
    interval = args.batch_size / args.rate
    warm_batches = int(args.warmup / interval)
    bodies: list[bytes] = []
    probes: list[Probe | None] = []
    for i in range(batches):
        chunk = clicks[i * args.batch_size : (i + 1) * args.batch_size]
        bodies.append(orjson.dumps({"events": [c.body() for c in chunk]}))
        probe = None
        if i >= warm_batches and (i - warm_batches) % args.sample_every == 0:
            last = chunk[-1].click
            probe = Probe(i, last.customer_id, last.timestamp, due=i * interval)
        probes.append(probe)
    return bodies, probes


async def watch_backlog(
    redis_url: str, database_url: str, partitions: int, tally: Tally, stop: asyncio.Event
) -> None:
    """Once a second: unapplied stream entries (the worker trims what it applied), open
    paths and dead tuples in `paths`."""
    client = aioredis.Redis.from_url(redis_url)
    conn = await asyncpg.connect(database_url)
    started = time.monotonic()
    try:
        while not stop.is_set():
            async with client.pipeline(transaction=False) as pipe:
                for partition in range(partitions):
                    pipe.xlen(stream_key(partition, "clicks"))
                pipe.info("memory")
                *lengths, memory = await pipe.execute()
            now = round(time.monotonic() - started, 1)
            tally.backlog.append((now, int(sum(lengths))))
            tally.redis_memory.append((now, int(memory["used_memory"])))
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM paths WHERE status = 'open') AS open,"
                " (SELECT sum(n_dead_tup) FROM pg_stat_user_tables"
                " WHERE relname IN ('completed_paths', 'open_paths')) AS dead"
            )
            tally.paths_state.append((now, int(row["open"]), int(row["dead"] or 0)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await conn.close()
        await client.aclose()


async def drive(
    url: str,
    ingest_key: str,
    read_keys: list[str],
    bodies: list[bytes],
    probes: list[Probe | None],
    args: argparse.Namespace,
    redis_url: str,
    database_url: str,
    partitions: int,
) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    interval = args.batch_size / args.rate
    stop_watch = asyncio.Event()
    headers = {"Content-Type": "application/json", **auth_headers(ingest_key)}
    async with (
        httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as posts,
        httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as gets,
    ):
        watcher = asyncio.create_task(
            watch_backlog(redis_url, database_url, partitions, tally, stop_watch)
        )
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        in_flight: set[asyncio.Task[None]] = set()
        pollers: set[asyncio.Task[None]] = set()

        async def poll(probe: Probe) -> None:
            key = read_keys[probe.batch % len(read_keys)] if read_keys else ""
            deadline = probe.acked + args.visibility_timeout
            params = {"customer_id": probe.customer_id, "limit": 1000}
            while loop.time() - start < deadline:
                probe.polls += 1
                tally.polls += 1
                try:
                    response = await gets.get("/v1/paths", params=params, headers=auth_headers(key))
                except httpx.HTTPError:
                    tally.poll_status[0] = tally.poll_status.get(0, 0) + 1
                    await asyncio.sleep(args.poll)
                    continue
                status = response.status_code
                tally.poll_status[status] = tally.poll_status.get(status, 0) + 1
                if status == 200 and any(
                    item["path_end_timestamp"] >= probe.timestamp
                    for item in response.json()["items"]
                ):
                    probe.visible = loop.time() - start
                    return
                await asyncio.sleep(args.poll)

        async def send(i: int, body: bytes) -> None:
            try:
                response = await posts.post("/v1/clicks/batch", content=body, headers=headers)
            except httpx.HTTPError:
                tally.post_errors += 1
                return
            acked = loop.time() - start
            tally.post_status[response.status_code] = (
                tally.post_status.get(response.status_code, 0) + 1
            )
            tally.post_latencies.append(acked - i * interval)
            probe = probes[i]
            if probe is not None and response.status_code == 202:
                probe.acked = acked
                task = asyncio.create_task(poll(probe))
                pollers.add(task)
                task.add_done_callback(pollers.discard)

        for i, body in enumerate(bodies):
            delay = start + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= args.max_in_flight:
                tally.skipped += 1  # the API is that far behind: do not pile on
                continue
            task = asyncio.create_task(send(i, body))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        bound = 15.0 + args.visibility_timeout
        remaining = [*in_flight, *pollers]
        if remaining:
            await asyncio.wait(remaining, timeout=bound)
        if pollers:  # POSTs that finished late started pollers after the snapshot above
            await asyncio.wait(list(pollers), timeout=args.visibility_timeout + 5)
        for task in [*in_flight, *pollers]:
            task.cancel()
        stop_watch.set()
        await watcher
    return tally


async def wait_for_worker(database_url: str, give_up_after: float = 60.0) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + give_up_after
        while not await conn.fetchval(
            "SELECT count(*) FROM stream_offsets WHERE stream = 'clicks'"
        ):
            if time.monotonic() > deadline:
                raise BenchError("the worker did not start consuming in time")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with BenchEnv(args, NAME) as env:
        ingest_key, *read_keys = env.keys("ingest", *["read"] * max(1, args.read_keys))
        with stage("starting helpstream api and one helpstream worker"):
            api, url = env.start_api()
            worker = env.start_worker()
            run_on_fastest_loop(wait_for_worker(env.database_url))
        with stage("generating traffic"):
            bodies, probes = plan(args)
        meter = CpuMeter(
            {
                "api": [api.pid],
                "worker": [worker.pid],
                "postgres": env.postgres_pids,
                "redis": env.redis_pid(),
            }
        )
        limit = args.seconds + args.warmup + 10
        profilers = (
            [Profiler(c, NAME, max_seconds=limit) for c in (api, worker)] if args.profile else []
        )
        title = (
            f"sending {num(args.rate)} events/s in batches of {args.batch_size} for "
            f"{args.warmup + args.seconds:.0f}s" + (" (profiled)" if profilers else "")
        )
        with stage(title), contextlib.ExitStack() as stack:
            for profiler in profilers:
                stack.enter_context(profiler)
            self_before = resource.getrusage(resource.RUSAGE_SELF)
            meter.start()
            started = time.monotonic()
            tally = run_on_fastest_loop(
                drive(
                    url,
                    ingest_key,
                    read_keys,
                    bodies,
                    probes,
                    args,
                    env.redis_url,
                    env.database_url,
                    env.partitions,
                )
            )
            self_after = resource.getrusage(resource.RUSAGE_SELF)
            own = (self_after.ru_utime + self_after.ru_stime) - (
                self_before.ru_utime + self_before.ru_stime
            )
            cpu = meter.stop({"load generator": own})
            wall = time.monotonic() - started
        for child in (api, worker):
            if not child.alive():
                raise BenchError(f"{child.name} died:\n{child.log_tail()}")
        summaries = [s for s in (p.summary() for p in profilers) if s is not None]
        for summary in summaries:
            print_profile(summary)
    return _report(args, tally, probes, cpu, wall, summaries)


def _report(
    args: argparse.Namespace,
    tally: Tally,
    probes: list[Probe | None],
    cpu: dict[str, float],
    wall: float,
    summaries: list[ProfileSummary],
) -> dict[str, Any]:
    sampled = [p for p in probes if p is not None and p.acked]
    seen = [p for p in sampled if p.visible is not None]
    latencies = [p.visible - p.acked for p in seen if p.visible is not None]
    lost = len(sampled) - len(seen)
    accepted = tally.post_status.get(202, 0) * args.batch_size
    sending = args.seconds + args.warmup
    p = {q: percentile(latencies, q) for q in (50, 95, 99)}
    # With probes that never became visible, p99 is at least the visibility timeout.
    p99 = p[99] if latencies and not lost else args.visibility_timeout
    if latencies and lost:
        p99 = max(p[99], args.visibility_timeout) if lost / len(sampled) > 0.01 else p[99]
    windows = []
    width = args.window
    window_p99s = []
    for start in range(0, int(sending + 1), int(width)):
        in_window = [
            p.visible - p.acked
            for p in seen
            if p.visible is not None and start <= p.acked < start + width
        ]
        if in_window:
            state = [s for s in tally.paths_state if s[0] <= start + width]
            memory = [m for t, m in tally.redis_memory if t <= start + width]
            window_p99s.append(percentile(in_window, 99))
            windows.append(
                [
                    f"{start}-{start + width:.0f}s",
                    len(in_window),
                    f"{percentile(in_window, 50) * 1000:.0f}",
                    f"{percentile(in_window, 99) * 1000:.0f}",
                    f"{state[-1][1]:,}" if state else "-",
                    f"{state[-1][2]:,}" if state else "-",
                    f"{memory[-1] / 2**20:.1f}" if memory else "-",
                ]
            )
    print(
        f"\n{NAME}: {num(args.rate)} events/s as {args.rate / args.batch_size:.0f} batches/s of "
        f"{args.batch_size}, {sending:.0f}s; probes every {args.sample_every} batches, "
        f"polled every {args.poll * 1000:.0f} ms"
    )
    backlog_max = max((n for _, n in tally.backlog), default=0)
    backlog_end = tally.backlog[-1][1] if tally.backlog else 0
    print(
        table(
            ["measurement", "value", "detail"],
            [
                [
                    "events accepted (202)",
                    f"{accepted:,}",
                    f"{accepted / sending:,.0f}/s offered over {sending:.0f}s; statuses "
                    f"{tally.post_status}, errors {tally.post_errors}, skipped {tally.skipped}",
                ],
                [
                    "POST latency p50 / p99 (ms)",
                    f"{percentile(tally.post_latencies, 50) * 1000:.1f} / "
                    f"{percentile(tally.post_latencies, 99) * 1000:.1f}",
                    "from the scheduled send time (no coordinated omission)",
                ],
                [
                    "probes",
                    f"{len(sampled)}",
                    f"{len(seen)} visible, {lost} not within "
                    f"{args.visibility_timeout:.0f}s; {tally.polls} GETs {tally.poll_status}",
                ],
                ["202 -> visible p50 (ms)", f"{p[50] * 1000:.0f}", ""],
                ["202 -> visible p95 (ms)", f"{p[95] * 1000:.0f}", ""],
                [
                    "202 -> visible p99 (ms)",
                    f"{p99 * 1000:.0f}",
                    f"target <= {TARGET_P99_S * 1000:.0f}",
                ],
                [
                    "202 -> visible max (ms)",
                    f"{max(latencies, default=float('nan')) * 1000:.0f}",
                    "",
                ],
                [
                    "worst window p99 (ms)",
                    f"{max(window_p99s, default=float('nan')) * 1000:.0f}",
                    f"over {len(window_p99s)} windows of {width:.0f}s",
                ],
                [
                    "Redis used_memory (MiB)",
                    _memory_range(tally.redis_memory),
                    "first / max / last sample (flat = bounded)",
                ],
                [
                    "stream backlog (entries)",
                    f"{backlog_end:,}",
                    f"at the end; max {backlog_max:,} (growing = the worker falls behind)",
                ],
                [
                    "CPU (cores)",
                    f"{cpu.get('worker', 0):.2f}",
                    f"worker; api {cpu.get('api', 0):.2f}, postgres {cpu.get('postgres', 0):.2f}, "
                    f"redis {cpu.get('redis', 0):.2f}, load generator "
                    f"{cpu.get('load generator', 0):.2f}, other {cpu.get('other', 0):.2f}",
                ],
            ],
        )
    )
    if windows:
        print(
            table(
                [
                    "window",
                    "probes",
                    "p50 ms",
                    "p99 ms",
                    "open paths",
                    "dead path tuples",
                    "redis MiB",
                ],
                windows,
            )
        )
    print(
        table(
            ["target", "value", "goal", "verdict"],
            [
                [
                    "202 -> visible p99",
                    f"{p99:.3f} s",
                    f"<= {TARGET_P99_S} s",
                    verdict(p99, TARGET_P99_S, higher_is_better=False),
                ]
            ],
        )
    )
    payload = {
        "p50_s": round(p[50], 4),
        "p95_s": round(p[95], 4),
        "p99_s": round(p99, 4),
        "target_p99_s": TARGET_P99_S,
        "verdict": verdict(p99, TARGET_P99_S, higher_is_better=False),
        "parameters": vars(args),
        "accepted_events": accepted,
        "wall_seconds": round(wall, 2),
        "probes": len(sampled),
        "visible": len(seen),
        "not_visible": lost,
        "post_status": tally.post_status,
        "post_errors": tally.post_errors,
        "skipped": tally.skipped,
        "polls": tally.polls,
        "poll_status": tally.poll_status,
        "post_latency_ms": {
            q: round(percentile(tally.post_latencies, q) * 1000, 2) for q in (50, 95, 99)
        },
        "backlog": tally.backlog,
        "paths_state": tally.paths_state,
        "redis_memory": tally.redis_memory,
        "worst_window_p99_s": round(max(window_p99s, default=0.0), 4),
        "cpu_cores": cpu,
        "latencies_s": [round(x, 4) for x in latencies],
        "profiles": [vars(s) for s in summaries],
    }
    path = write_results(NAME, payload)
    print(f"results: {path}")
    return payload


def _memory_range(samples: list[tuple[float, int]]) -> str:
    if not samples:
        return "-"
    mib = [m / 2**20 for _, m in samples]
    return f"{mib[0]:.1f} / {max(mib):.1f} / {mib[-1]:.1f}"


def main(argv: list[str] | None = None) -> int:
    return bench_main(NAME, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
