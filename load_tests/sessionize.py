"""Sessionizing: one worker's apply throughput (events/s) against raw asyncpg COPY rows/s.

1. Preload N clicks straight into the partition streams, as exactly the entries that
   POSTing them in requests of `--request-size` would write (the API's own encoding).
2. Start one `helpstream worker` process; time from its registration (its row in `workers`)
   until every partition's stored offset has reached the last preloaded entry. Progress is
   sampled from `stream_offsets`, so a steady-state rate (10%..90% of the events) is
   reported too, without the start-up and the tail.
3. Baseline: asyncpg `copy_records_to_table` of the same N rows (the clicks table's columns)
   into a scratch table without indexes; the best-case PostgreSQL write path.
The ratio is worker events/s / COPY rows/s; the target is >= 0.25.

    python -m load_tests.sessionize [--events 100000 --request-size 100 --profile]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from helpstream.aio import run_on_fastest_loop
from helpstream.streams import parse_id
from helpstream.workers.click_store import CLICK_COLUMNS
from load_tests.args import add_common_arguments, bench_main
from load_tests.base import BenchError
from load_tests.cpu import CpuMeter
from load_tests.events import (
    CLICKS_PER_CUSTOMER,
    StreamEntry,
    click_stream,
    delay_some,
    stream_entries,
)
from load_tests.isolation import BenchEnv
from load_tests.output import median, num, stage, table, verdict, write_results
from load_tests.profiles import Profiler, ProfileSummary, print_profile

NAME = "sessionize"
TARGET_RATIO = 0.25


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m load_tests.{NAME}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=100_000, help="clicks to preload")
    parser.add_argument(
        "--request-size",
        type=int,
        default=100,
        help="clicks per simulated POST: one stream entry per (request, partition)",
    )
    parser.add_argument(
        "--clicks-per-customer",
        type=int,
        default=CLICKS_PER_CUSTOMER,
        help="path length knob: clicks each customer makes (customers = events / this)",
    )
    parser.add_argument(
        "--path-clicks",
        type=int,
        default=None,
        help="long paths: every path exactly this many clicks (resolved by its last one, "
        "no gap over the timeout); default: the generator's mix (about 5 pages a path)",
    )
    parser.add_argument(
        "--out-of-order",
        type=float,
        default=0.0,
        help="fraction of clicks that arrive up to --max-shift positions late",
    )
    parser.add_argument("--max-shift", type=int, default=2000, help="see --out-of-order")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--copy-rounds", type=int, default=3, help="COPY baseline repetitions")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="give up draining after this long (s)"
    )
    parser.add_argument("--poll", type=float, default=0.05, help="progress poll interval (s)")
    add_common_arguments(parser)
    return parser


class Progress:
    """Events applied so far, from the partitions' stored offsets."""

    def __init__(self, ids: dict[int, list[tuple[int, int]]], counts: dict[int, list[int]]):
        self.ids = ids  # partition -> sorted entry ids
        self.cumulative = counts  # partition -> events in entries up to and including i
        self.total = sum(c[-1] for c in counts.values() if c)

    def applied(self, offsets: dict[int, str]) -> int:
        done = 0
        for partition, last_id in offsets.items():
            ids = self.ids.get(partition)
            if not ids:
                continue
            index = bisect.bisect_right(ids, parse_id(last_id))
            if index:
                done += self.cumulative[partition][index - 1]
        return done


async def preload(redis_url: str, entries: list[StreamEntry]) -> Progress:
    """XADD the entries in order; returns what their ids mean in events."""
    client = aioredis.Redis.from_url(redis_url)
    ids: dict[int, list[tuple[int, int]]] = {}
    counts: dict[int, list[int]] = {}
    try:
        for start in range(0, len(entries), 1000):
            chunk = entries[start : start + 1000]
            async with client.pipeline(transaction=False) as pipe:
                for entry in chunk:
                    pipe.xadd(entry.key, {b"b": entry.payload})
                replies = await pipe.execute()
            for entry, entry_id in zip(chunk, replies, strict=True):
                ids.setdefault(entry.partition, []).append(parse_id(entry_id))
                running = counts.setdefault(entry.partition, [])
                running.append((running[-1] if running else 0) + entry.events)
    finally:
        await client.aclose()
    return Progress(ids, counts)


async def drain(
    database_url: str, progress: Progress, give_up_after: float, poll: float, meter: CpuMeter
) -> dict[str, Any]:
    """Wait for the worker to register, then until everything is applied; bounded."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 60
        while not await conn.fetchval("SELECT count(*) FROM workers"):
            if time.monotonic() > deadline:
                raise BenchError("the worker did not register within 60 s")
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        meter.start()
        samples: list[tuple[float, int]] = [(0.0, 0)]
        deadline = t0 + give_up_after
        while True:
            rows = await conn.fetch(
                "SELECT partition, last_id FROM stream_offsets WHERE stream = 'clicks'"
            )
            done = progress.applied({r["partition"]: r["last_id"] for r in rows})
            now = time.monotonic()
            if done != samples[-1][1]:
                samples.append((now - t0, done))
            if done >= progress.total or now > deadline:
                break
            await asyncio.sleep(poll)
        elapsed = now - t0
        cpu = meter.stop()
        stats = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM clicks) AS clicks,"
            " (SELECT count(*) FROM paths) AS paths,"
            " (SELECT count(*) FROM paths WHERE status <> 'open') AS completed"
        )
    finally:
        await conn.close()
    return {
        "completed": done >= progress.total,
        "applied_events": done,
        "seconds": round(elapsed, 3),
        "events_per_s": done / elapsed if elapsed else 0.0,
        "steady_events_per_s": _steady_rate(samples, progress.total),
        "cpu_cores": cpu,
        "stored_clicks": stats["clicks"],
        "paths": stats["paths"],
        "completed_paths": stats["completed"],
        "progress": [(round(t, 3), n) for t, n in samples],
    }


def _steady_rate(samples: list[tuple[float, int]], total: int) -> float | None:
    """events/s between reaching 10% and 90% of the events (start-up and tail excluded)."""
    low = next((s for s in samples if s[1] >= total * 0.1), None)
    high = next((s for s in samples if s[1] >= total * 0.9), None)
    if low is None or high is None or high[0] <= low[0]:
        return None
    return (high[1] - low[1]) / (high[0] - low[0])


async def copy_baseline(
    database_url: str, rows: list[tuple[Any, ...]], rounds: int
) -> dict[str, Any]:
    """rows/s of COPY into scratch tables shaped like `clicks` (without, then with its
    indexes)."""
    conn = await asyncpg.connect(database_url)
    out: dict[str, Any] = {}
    try:
        for label, like in (
            ("no_indexes", "INCLUDING DEFAULTS"),
            ("clicks_indexes", "INCLUDING ALL"),
        ):
            await conn.execute("DROP TABLE IF EXISTS bench_copy_clicks")
            await conn.execute(f"CREATE TABLE bench_copy_clicks (LIKE clicks {like})")
            rates = []
            for _ in range(rounds):
                await conn.execute("TRUNCATE bench_copy_clicks")
                started = time.perf_counter()
                await conn.copy_records_to_table(
                    "bench_copy_clicks", records=rows, columns=CLICK_COLUMNS
                )
                rates.append(len(rows) / (time.perf_counter() - started))
            out[label] = {"rows_per_s": median(rates), "rounds": [round(r) for r in rates]}
        await conn.execute("DROP TABLE IF EXISTS bench_copy_clicks")
    finally:
        await conn.close()
    return out


def copy_rows(entries: list[StreamEntry]) -> list[tuple[Any, ...]]:
    """The clicks rows the worker stores for these entries (one per event key), for the
    COPY baseline."""
    import uuid

    from helpstream.wire import decode_events

    rows: dict[tuple[int, uuid.UUID], tuple[Any, ...]] = {}
    for entry in entries:
        for ts, customer, source, target, resolved, key, variant in decode_events(
            {b"b": entry.payload}
        ):
            # Two clicks without an event_id and with the same content share a key: the
            # worker stores one row for them, and so must the baseline.
            event_key = uuid.UUID(key)
            row = (customer, event_key, ts, source, target, resolved, variant, False)
            rows.setdefault((customer, event_key), row)
    return list(rows.values())


def drain_with_worker(
    env: BenchEnv, progress: Progress, args: argparse.Namespace, profile_tag: str | None
) -> tuple[dict[str, Any], ProfileSummary | None]:
    workers = [env.start_worker(f"worker{i}") for i in range(args.workers)]
    meter = CpuMeter(
        {
            "worker": [w.pid for w in workers],
            "postgres": env.postgres_pids,
            "redis": env.redis_pid(),
        }
    )
    profiler: AbstractContextManager[Any] = nullcontext()
    if profile_tag:
        profiler = Profiler(workers[0], profile_tag, max_seconds=args.timeout)
    with profiler as active:
        result = run_on_fastest_loop(
            drain(env.database_url, progress, args.timeout, args.poll, meter)
        )
    for w in workers:
        if not w.alive():
            raise BenchError(f"a worker died:\n{w.log_tail()}")
        env.stop(w)
    summary = active.summary() if profile_tag else None
    return result, summary


def run(args: argparse.Namespace) -> dict[str, Any]:
    with BenchEnv(args, NAME) as env:
        with stage(f"generating {num(args.events)} clicks, {args.request_size} per request"):
            clicks = click_stream(
                args.events, args.seed, args.clicks_per_customer, args.path_clicks
            )
            delay_some(clicks, args.out_of_order, args.max_shift, args.seed)
            entries = stream_entries(clicks, args.request_size, env.partitions)
            rows = copy_rows(entries)
        with stage(f"COPY baseline: {num(len(rows))} rows x {args.copy_rounds}"):
            copy = run_on_fastest_loop(copy_baseline(env.database_url, rows, args.copy_rounds))
        with stage(f"preloading {num(len(entries))} stream entries"):
            progress = run_on_fastest_loop(preload(env.redis_url, entries))
        with stage("one `helpstream worker` applying them"):
            result, _ = drain_with_worker(env, progress, args, None)
        if not result["completed"]:
            print(f"    not drained within {args.timeout:.0f}s: rate is over what was applied")
        print(
            f"    {num(result['events_per_s'])} events/s (steady "
            f"{num(result['steady_events_per_s'] or 0)}), worker "
            f"{result['cpu_cores']['worker']:.2f} cores, postgres "
            f"{result['cpu_cores']['postgres']:.2f}, other {result['cpu_cores']['other']:.2f}"
        )
        profile_out: dict[str, Any] = {}
        if args.profile:
            with stage("profiling a second, identical run with py-spy"):
                env.reset()
                progress = run_on_fastest_loop(preload(env.redis_url, entries))
                profiled, summary = drain_with_worker(env, progress, args, NAME)
            if summary is not None:
                print_profile(summary)
                profile_out = {"events_per_s_while_profiled": profiled["events_per_s"]}
                profile_out.update(vars(summary))
    return _report(args, result, copy, len(entries), profile_out)


def _report(
    args: argparse.Namespace,
    result: dict[str, Any],
    copy: dict[str, Any],
    entries: int,
    profile_out: dict[str, Any],
) -> dict[str, Any]:
    copy_rate = float(copy["no_indexes"]["rows_per_s"])
    rate = float(result["events_per_s"])
    ratio = rate / copy_rate if copy_rate else float("nan")
    steady = result["steady_events_per_s"]
    cpu = result["cpu_cores"]
    print(
        f"\n{NAME}: {num(args.events)} clicks in {num(entries)} stream entries "
        f"({args.request_size} clicks per request, {args.partitions} partitions, "
        f"{args.clicks_per_customer} clicks per customer, "
        f"{f'paths of {args.path_clicks} clicks, ' if args.path_clicks else ''}"
        f"{args.out_of_order:.0%} out of order), {args.workers} worker(s)"
    )
    print(
        table(
            ["measurement", "per second", "detail"],
            [
                [
                    "worker apply (events)",
                    num(rate),
                    f"{result['applied_events']:,} in {result['seconds']:.2f}s from registration"
                    + ("" if result["completed"] else " (NOT drained: timeout)"),
                ],
                [
                    "worker apply, steady 10%..90% (events)",
                    num(steady) if steady else "n/a",
                    "start-up and tail excluded",
                ],
                [
                    "asyncpg COPY, no indexes (rows)",
                    num(copy_rate),
                    "rounds " + " / ".join(num(r) for r in copy["no_indexes"]["rounds"]),
                ],
                [
                    "asyncpg COPY, clicks' indexes (rows)",
                    num(copy["clicks_indexes"]["rows_per_s"]),
                    "context: same table shape as `clicks`",
                ],
                [
                    "CPU while applying (cores)",
                    f"{cpu['worker']:.2f}",
                    f"worker; postgres {cpu['postgres']:.2f}, redis {cpu['redis']:.2f}, "
                    f"other {cpu['other']:.2f}",
                ],
                [
                    "stored",
                    f"{result['stored_clicks']:,}",
                    f"clicks; {result['paths']:,} paths ({result['completed_paths']:,} completed)",
                ],
            ],
        )
    )
    print(
        table(
            ["ratio", "value", "target", "verdict"],
            [
                [
                    "worker events/s / COPY rows/s",
                    f"{ratio:.3f}",
                    f">= {TARGET_RATIO}",
                    verdict(ratio, TARGET_RATIO),
                ]
            ],
        )
    )
    payload = {
        "ratio": round(ratio, 4),
        "target": TARGET_RATIO,
        "verdict": verdict(ratio, TARGET_RATIO) if result["completed"] else "MISS",
        "parameters": vars(args),
        "worker": result,
        "copy": copy,
        "profile": profile_out,
    }
    path = write_results(NAME, payload)
    print(f"results: {path}")
    return payload


def main(argv: list[str] | None = None) -> int:
    return bench_main(NAME, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
