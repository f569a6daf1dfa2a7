"""The ceiling of the worker's per-event design: how close to COPY it could get at best.

`sessionize` measures the worker; this asks what the same design reaches when most of the
work is taken away. In this process (no worker process, no Redis), with the partitions in
flight at once on a connection each, as the worker runs them:

1. **decode only**: the per-event Python of the next step, without the database;
2. **store only**: decode the stream entries (`decode_events`, `click_from_wire`), drop
   repeated deliveries and store the clicks exactly once (`store_new_clicks`: COPY into
   `clicks`, whose primary key does the de-duplication) — no sessionizing, no paths, no
   rollups, no offsets;
3. **apply**: the same entries through `apply_clicks`, the worker's whole transaction body.

Each is reported as events/s and as a ratio to the `sessionize` baseline (asyncpg COPY of
the same rows into an unindexed table). When "store only" is already short of the 0.25
target, no tuning of sessionizing or of the path writes can reach it: the per-event
decoding and the de-duplicating insert must change first (see the README, issue 16).

    python -m load_tests.ceiling [--embedded] [--events 300000] [--partitions 8]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from helpstream.aio import run_on_fastest_loop
from helpstream.events import ClickEvent
from helpstream.wire import PAYLOAD_FIELD, click_from_wire, decode_events
from helpstream.workers.click_store import RepeatedKeys, first_deliveries, store_new_clicks
from helpstream.workers.clicks import ClickSettings, apply_clicks
from load_tests.args import add_common_arguments, bench_main
from load_tests.events import StreamEntry, click_stream, stream_entries
from load_tests.isolation import BenchEnv
from load_tests.output import num, stage, table, verdict, write_results
from load_tests.sessionize import TARGET_RATIO, copy_baseline, copy_rows

NAME = "ceiling"
BATCH_EVENTS = 20_000  # the worker's default transaction size (worker_batch_events)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m load_tests.{NAME}", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=300_000, help="clicks")
    parser.add_argument("--request-size", type=int, default=100, help="clicks per entry")
    parser.add_argument("--copy-rounds", type=int, default=3, help="COPY baseline repetitions")
    add_common_arguments(parser)
    return parser


Batch = list[dict[bytes, bytes]]  # the entries of one transaction, as XREAD returns fields


def batches_by_partition(entries: list[StreamEntry]) -> dict[int, list[Batch]]:
    """Each partition's entries cut into transactions of about `BATCH_EVENTS` events."""
    out: dict[int, list[Batch]] = defaultdict(list)
    sizes: dict[int, int] = defaultdict(int)
    for entry in entries:
        batches = out[entry.partition]
        if not batches or sizes[entry.partition] >= BATCH_EVENTS:
            batches.append([])
            sizes[entry.partition] = 0
        batches[-1].append({PAYLOAD_FIELD: entry.payload})
        sizes[entry.partition] += entry.events
    return out


def decode(batch: Batch) -> list[ClickEvent]:
    """What the consumer does with a batch's entries before applying them."""
    return [click_from_wire(raw) for fields in batch for raw in decode_events(fields)]


async def decode_only(pool: asyncpg.Pool, partition: int, batches: list[Batch]) -> None:
    for batch in batches:
        first_deliveries(decode(batch))
        await asyncio.sleep(0)  # let the other partitions' tasks take turns, as with I/O


async def store_only(pool: asyncpg.Pool, partition: int, batches: list[Batch]) -> None:
    repeats = RepeatedKeys()
    for batch in batches:
        events = first_deliveries(decode(batch))
        async with pool.acquire() as conn, conn.transaction():
            await store_new_clicks(conn, events, {}, 300, repeats)


async def apply(pool: asyncpg.Pool, partition: int, batches: list[Batch]) -> None:
    cfg = ClickSettings(partition, path_timeout=300, allowed_lateness=300)
    stream_time = None
    for batch in batches:
        events = decode(batch)
        async with pool.acquire() as conn, conn.transaction():
            stream_time = await apply_clicks(conn, events, cfg, stream_time)
        if cfg.ends is not None:
            cfg.ends.confirmed = True  # committed, as `ClickHandler.committed` marks it


Step = Callable[[asyncpg.Pool, int, list[Batch]], Awaitable[None]]


async def measure(
    database_url: str, work: dict[int, list[Batch]], events: int, step: Step
) -> dict[str, Any]:
    """events/s and this process's CPU while every partition runs ``step`` at once."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE clicks, open_paths, completed_paths, path_rollups, page_rollups")
    await conn.close()
    async with asyncpg.create_pool(database_url, min_size=len(work), max_size=len(work)) as pool:
        cpu_before, started = _cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(step(pool, p, batches) for p, batches in work.items()))
        wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    return {
        "events_per_s": events / wall,
        "cpu_us_per_event": cpu / events * 1e6,
        "cores": cpu / wall,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> dict[str, Any]:
    # As `helpstream worker` runs (helpstream.cli.serve): otherwise full collections over
    # the batches held here would dominate.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    with BenchEnv(args, NAME) as env:
        with stage(f"generating {num(args.events)} clicks"):
            entries = stream_entries(
                click_stream(args.events, args.seed), args.request_size, env.partitions
            )
            work = batches_by_partition(entries)
            events = sum(entry.events for entry in entries)
        with stage(f"COPY baseline x {args.copy_rounds}"):
            copy = run_on_fastest_loop(
                copy_baseline(env.database_url, copy_rows(entries), args.copy_rounds)
            )
        results = {}
        steps: dict[str, Step] = {
            "decode_only": decode_only,
            "store_only": store_only,
            "apply": apply,
        }
        for label, step in steps.items():
            with stage(f"{label}, {len(work)} partitions in flight"):
                results[label] = run_on_fastest_loop(measure(env.database_url, work, events, step))
    baseline = copy["no_indexes"]["rows_per_s"]
    ratios = {label: r["events_per_s"] / baseline for label, r in results.items()}
    rows = [
        [
            label,
            num(r["events_per_s"]),
            f"{ratios[label]:.3f}",
            f"{r['cpu_us_per_event']:.2f}",
            f"{r['cores']:.2f}",
        ]
        for label, r in results.items()
    ]
    rows.append(["COPY, no indexes (baseline)", num(baseline), "1", "", ""])
    rows.append(["COPY, clicks' indexes", num(copy["clicks_indexes"]["rows_per_s"]), "", "", ""])
    print(f"\n{NAME}: {num(args.events)} clicks, {len(work)} partitions, in one process")
    print(table(["step", "events/s", "÷ COPY", "CPU µs/event", "cores"], rows))
    best = ratios["store_only"]
    print(
        f"store only ÷ COPY {best:.3f} against the {TARGET_RATIO} target: "
        f"{verdict(best, TARGET_RATIO)} (a MISS: this design cannot reach the target)"
    )
    summary = {
        "parameters": {k: v for k, v in vars(args).items() if k != "settings"},
        "copy": copy,
        "results": results,
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "verdict": verdict(best, TARGET_RATIO),
    }
    print(f"results: {write_results(NAME, summary)}")
    return summary


def main(argv: list[str] | None = None) -> int:
    return bench_main(NAME, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
