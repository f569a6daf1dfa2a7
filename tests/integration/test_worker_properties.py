"""Property: the worker itself (PartitionConsumer + click handler + PostgreSQL) converges.

Hypothesis draws a few customers' clicks (same-second ties, gaps at the timeout boundary,
browser-back steps, double clicks), an arrival order within the lateness bound, repeated
deliveries, a split into stream entries and a batch size for the consumer. Whatever it
draws, once the partition is drained the stored paths, `/v1/metrics/paths` and
`/v1/metrics/pages` equal the independent oracle's answer on the distinct clicks.
Each example hits the database, so the example count is modest.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from helpstream.settings import Settings
from helpstream.streams import RedisClient, stream_key
from helpstream.wire import PAYLOAD_FIELD, click_to_wire, encode_events
from helpstream.workers.consumer import PartitionConsumer
from helpstream.workers.handlers import default_handlers
from tests import oracle, traffic
from tests.conftest import wait_drained

pytestmark = pytest.mark.integration

TIMEOUT = 40
LATENESS = 15
BASE = 1_700_000_000


@dataclass(frozen=True)
class Delivery:
    key: str
    click: oracle.OClick


@dataclass
class Case:
    distinct: list[oracle.OClick]
    entries: list[list[Delivery]]
    batch_entries: int


@st.composite
def cases(draw: st.DrawFn, partitions: int) -> Case:
    gaps = st.one_of(
        st.just(0),
        st.integers(0, 3),
        st.sampled_from([TIMEOUT - 1, TIMEOUT, TIMEOUT + 1]),
        st.integers(TIMEOUT + 2, 3 * TIMEOUT),
    )
    pages = st.integers(0, 5)
    events: list[Delivery] = []
    for n in range(draw(st.integers(1, 3))):
        customer = n * partitions  # all in partition 0: one consumer sees them all
        ts, page = BASE + draw(st.integers(0, 30)), draw(pages)
        for _ in range(draw(st.integers(1, 9))):
            back = draw(st.integers(0, 5)) == 0  # browser back: the source is another page
            source = draw(pages) if back else page
            target = draw(pages)
            clk = oracle.OClick(ts, customer, source, target, draw(st.integers(0, 4)) == 0, "v")
            events.append(Delivery(str(uuid.UUID(int=len(events) + 1)), clk))  # one key each
            page = target
            ts += draw(gaps)
    # Arrival: each event delayed by at most the lateness bound; some delivered again later.
    arrivals = []
    for i, event in enumerate(events):
        at = event.click.timestamp + draw(st.integers(0, LATENESS))
        arrivals.append((at, draw(st.integers(0, 99)), i, event))
        if draw(st.integers(0, 4)) == 0:
            arrivals.append((at + draw(st.integers(0, 3 * LATENESS)), 0, i, event))
    ordered = [a[3] for a in sorted(arrivals, key=lambda a: a[:3])]
    entries: list[list[Delivery]] = []
    while ordered:
        size = draw(st.integers(1, 4))
        entries.append(ordered[:size])
        ordered = ordered[size:]
    distinct = list({e.key: e.click for e in events}.values())
    return Case(distinct, entries, draw(st.integers(1, 5)))


async def reset(pool: asyncpg.Pool, redis: RedisClient) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE clicks, completed_paths, open_paths, path_rollups, page_rollups,"
            " stream_offsets RESTART IDENTITY"
        )
    await redis.flushdb()


async def stored_paths(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT customer_id, start_ts, end_ts, pages, status, variant FROM paths"
        " ORDER BY customer_id, start_ts, path_id"
    )
    return [
        {
            "customer_id": r["customer_id"],
            "start": r["start_ts"],
            "end": r["end_ts"],
            "pages": list(r["pages"]),
            "status": r["status"],
            "variant": r["variant"],
        }
        for r in rows
    ]


def as_rows(paths: list[oracle.OPath]) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": p.customer_id,
            "start": p.start_ts,
            "end": p.end_ts,
            "pages": p.pages,
            "status": p.status,
            "variant": p.variant,
        }
        for p in paths
    ]


PARTITIONS = 4  # the `settings` fixture's partition count


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases(PARTITIONS))
async def test_worker_converges_to_the_oracle(
    case: Case,
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    assert settings.partitions == PARTITIONS
    cfg = settings.model_copy(update={"path_timeout": TIMEOUT, "allowed_lateness": LATENESS})
    await reset(pool, redis)
    for entry in case.entries:
        wire = [
            click_to_wire(
                c.timestamp, c.customer_id, c.source, c.target, c.resolved, d.key, c.variant
            )
            for d in entry
            for c in [d.click]
        ]
        await redis.xadd(stream_key(0, "clicks"), {PAYLOAD_FIELD: encode_events(wire)})
    note(f"entries={[[(d.click, d.key[-4:]) for d in e] for e in case.entries]}")
    note(f"batch_entries={case.batch_entries}")

    consumer = PartitionConsumer(
        0,
        pool,
        redis,
        default_handlers(cfg),
        batch_entries=case.batch_entries,
        block_ms=10,
        sweep_seconds=3600,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_drained(redis, pool, PARTITIONS, within=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    expected = oracle.all_paths(case.distinct, TIMEOUT)
    assert await stored_paths(pool) == as_rows(expected)
    assert await pool.fetchval("SELECT count(*) FROM clicks") == len(case.distinct)
    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics == traffic.expected_path_metrics(expected)
    pages = (await api.get("/v1/metrics/pages", params={"limit": 1000})).json()
    assert traffic.without_names(pages) == traffic.expected_page_metrics(expected)
