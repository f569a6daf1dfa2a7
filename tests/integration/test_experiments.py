"""Experiments and deflection (contract §7) through the real API, workers and databases.

Deflection is checked against a plain-Python reading of the contract on the same clicks and
tickets, sent shuffled and duplicated (tickets also re-sent with a later `ticket.opened`,
and messages arriving before their ticket), so the figures must converge whatever the
arrival order.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.api.comparison import Options, compare
from helpstream.api.models_experiments import VariantStats
from helpstream.db import query
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests import traffic
from tests.conftest import WorkerHandle, wait_drained
from tests.integration.test_click_pipeline import post_all, settled_paths
from tests.oracle import OPath as Path

pytestmark = pytest.mark.integration

HOUR = 3600


async def _load_traffic(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, settings: Settings, seed: int
) -> list[Path]:
    rng = random.Random(seed)
    sent = traffic.generate(rng, customers=60, clicks_per_customer=25)
    arrivals = traffic.arrival_order(rng, sent, settings.allowed_lateness, duplicate_share=0.15)
    await post_all(api, traffic.batches(rng, arrivals, largest=120))
    await wait_drained(redis, pool, settings.partitions)
    expected = traffic.expected_paths(sent, settings.path_timeout)
    want = [traffic.as_api(p) for p in expected]
    assert await settled_paths(api, want) == want
    return expected


def _stats(name: str, paths: list[Path]) -> VariantStats:
    figures = traffic.path_metrics([p for p in paths if p.variant == name])
    return VariantStats(
        variant=name, **{k: figures[k] for k in VariantStats.model_fields if k != "variant"}
    )


async def test_compare_is_the_statistics_of_the_variants_path_metrics(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
    read_api: httpx.AsyncClient,
) -> None:
    expected = await _load_traffic(api, redis, pool, settings, seed=20180112)
    a, b = _stats("A", expected), _stats("B", expected)
    for params, opts in [
        ({}, Options(min_paths=settings.experiment_min_paths)),
        (
            {"sequential": "true", "expected_ratio": "0.4"},
            Options(settings.experiment_min_paths, 0.4, True),
        ),
    ]:
        response = await read_api.get(
            "/v1/experiments/compare", params={"baseline": "A", "variant": "B", **params}
        )
        assert response.status_code == 200, response.text
        want = compare(a, b, opts).model_dump()
        _close(response.json(), want)

    several = await read_api.get(
        "/v1/experiments/compare",
        params=[("baseline", "A"), ("variant", "B"), ("variant", "nobody")],
    )
    assert several.status_code == 200, several.text
    body = several.json()
    assert body["correction"] == "holm" and len(body["comparisons"]) == 2
    assert body["comparisons"][1]["variant"]["completed_paths"] == 0
    assert body["comparisons"][1]["verdict"] == "not enough data"


def _close(got: Any, want: Any) -> bool:
    """Equal, floats to 1e-9 relative (the API's sums go through PostgreSQL numerics)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (got, want)
        return all(_close(got[k], want[k]) for k in want)
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (got, want)
        return True
    assert got == want
    return True


@pytest.mark.parametrize(
    "params",
    [
        {"variant": "B"},
        {"baseline": "A"},
        {"baseline": "A", "variant": "B", "expected_ratio": "1"},
        {"baseline": "A", "variant": "bad variant"},
        {"baseline": "A", "variant": "B", "sequential": "maybe"},
        {"baseline": "A", "variant": "B", "since": "-1"},
    ],
)
async def test_bad_compare_queries_are_422_naming_the_field(
    read_api: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await read_api.get("/v1/experiments/compare", params=params)
    assert response.status_code == 422, response.text
    assert "query" in response.text


def _tickets_near_paths(
    rng: random.Random, paths: list[Path]
) -> tuple[list[dict[str, Any]], dict[int, tuple[int, int]]]:
    """ticket.opened events at telling distances from path ends, plus what each ticket's
    (customer, opened_at) ends up as: the earliest of its ticket.opened events."""
    events: list[dict[str, Any]] = []
    tickets: dict[int, tuple[int, int]] = {}
    offsets = [-60, 0, 1, 59 * 60, 24 * HOUR, 24 * HOUR + 1, 30 * HOUR]
    for ticket_id, path in enumerate(rng.sample(paths, len(paths) // 2), start=1):
        opened = path.end_ts + rng.choice(offsets)
        tickets[ticket_id] = (path.customer_id, opened)
        base = {"type": "ticket.opened", "ticket_id": ticket_id, "customer_id": path.customer_id}
        events.append({**base, "category": "Bug report", "timestamp": opened})
        if rng.random() < 0.2:  # sent again later: the earliest one counts
            events.append({**base, "category": "Bug report", "timestamp": opened + 7 * HOUR})
        if rng.random() < 0.2:  # a message before its ticket.opened arrives
            events.append(
                {
                    "type": "message.sent",
                    "message_id": ticket_id,
                    "ticket_id": ticket_id,
                    "sender_type": "customer",
                    "sender_id": path.customer_id,
                    "timestamp": opened + 30,
                    "text": "help",
                }
            )
    return events, tickets


def _reference_deflection(
    paths: list[Path],
    tickets: dict[int, tuple[int, int]],
    window_hours: float,
    variant: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """Contract §7, directly: loop over completed paths and over tickets."""
    window = round(window_hours * HOUR)
    completed = [
        p
        for p in paths
        if p.status != "open"
        and (variant is None or p.variant == variant)
        and (since is None or p.end_ts >= since)
        and (until is None or p.end_ts <= until)
    ]

    def escalated(p: Path) -> bool:
        return any(
            c == p.customer_id and p.end_ts <= t <= p.end_ts + window for c, t in tickets.values()
        )

    hits = [p for p in completed if escalated(p)]
    resolved = [p for p in completed if p.status == "resolved"]
    deflected = [p for p in resolved if not escalated(p)]
    pages = Counter(p.pages[-1] for p in hits)
    n = len(completed)
    return {
        "completed_paths": n,
        "resolved_paths": len(resolved),
        "escalated_paths": len(hits),
        "escalation_rate": len(hits) / n if n else None,
        "deflection_rate": len(deflected) / n if n else None,
        "window_hours": float(window_hours),
        "items": [
            {"page_id": page, "escalations": count}
            for page, count in sorted(pages.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


async def test_deflection_equals_the_reference_on_shuffled_duplicated_clicks_and_tickets(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
    read_api: httpx.AsyncClient,
) -> None:
    rng = random.Random(77)
    paths = await _load_traffic(api, redis, pool, settings, seed=5)
    completed = [p for p in paths if p.status != "open"]
    events, tickets = _tickets_near_paths(rng, completed)
    mixed = events + rng.sample(events, len(events) // 4)
    rng.shuffle(mixed)
    for i in range(0, len(mixed), 97):
        chunk = mixed[i : i + 97]
        response = await api.post("/v1/support-events/batch", json={"events": chunk})
        assert response.status_code == 202, response.text
    await wait_drained(redis, pool, settings.partitions)

    ends = sorted(p.end_ts for p in completed)
    middle = ends[len(ends) // 2]
    cases: list[dict[str, Any]] = [
        {},
        {"window_hours": 1},
        {"window_hours": 0},
        {"window_hours": 30},
        {"variant": "A"},
        {"variant": "B", "since": middle},
        {"until": middle, "window_hours": 0.5},
    ]
    for params in cases:
        response = await read_api.get("/v1/metrics/deflection", params=params)
        assert response.status_code == 200, response.text
        want = _reference_deflection(paths, tickets, **{"window_hours": 24, **params})
        _close(response.json(), want)
    assert _reference_deflection(paths, tickets, 24)["escalated_paths"] > 10


@pytest.mark.parametrize(
    "params", [{"window_hours": "-1"}, {"window_hours": "x"}, {"variant": "a b"}]
)
async def test_bad_deflection_queries_are_422(
    read_api: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await read_api.get("/v1/metrics/deflection", params=params)
    assert response.status_code == 422, response.text


async def test_deflection_probes_tickets_by_index(pool: asyncpg.Pool) -> None:
    """The per-path ticket probe is an index scan on tickets_customer_opened (migration 007)."""
    await pool.execute(
        "INSERT INTO tickets (ticket_id, customer_id, opened_at) "
        "SELECT g, g % 5000, 1700000000 + g FROM generate_series(1, 50000) g"
    )
    await pool.execute("ANALYZE tickets")
    await pool.execute(
        "INSERT INTO completed_paths (customer_id, partition, variant, start_ts, end_ts, pages, "
        "path_length, status, has_turnaround) SELECT g % 5000, 0, 'A', 1700000000 + g, "
        "1700000100 + g, ARRAY[1, 2, 3]::bigint[], 3, 'resolved', false "
        "FROM generate_series(1, 50000) g"
    )
    await pool.execute("ANALYZE tickets")
    await pool.execute("ANALYZE completed_paths")
    rows = await pool.fetch(
        "EXPLAIN " + query("deflection"), None, 1700000000, 1700001000, 24 * HOUR
    )
    plan = "\n".join(r[0] for r in rows)
    assert "tickets_customer_opened" in plan, plan
    assert "paths_completed_end" in plan, plan
