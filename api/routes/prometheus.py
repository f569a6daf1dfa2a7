"""GET /metrics: the pipeline's health in Prometheus text format (contract §6).

Exposition is `prometheus-client`'s. Two sources:
* this API process's own registry (`http_metrics.ApiMetrics`): request durations, build info;
* the pipeline's cross-process figures, read at scrape time and rendered as a one-shot
  collector: counts that every API and worker process adds to (Redis stats hashes),
  backlog and oldest-unapplied age (Redis streams against the offsets in PostgreSQL), late
  events (a running total per partition in `stream_offsets`, never a scan of the rollups),
  live workers (fresh heartbeats) and which partitions are owned (the workers' advisory
  locks in `pg_locks`).
Every query here reads a table whose size is bounded by partitions or workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from helpstream.api.deps import AppSettings, Buffer, Pool, Redis
from helpstream.api.http_metrics import ApiMetrics
from helpstream.api.ingest import BacklogMonitor
from helpstream.streams import KINDS, dead_letter_key, parse_id, stats_key, stream_key

router = APIRouter(tags=["health"])

# The advisory-lock namespace workers take partitions under (workers/runner.py's
# PARTITION_LOCK_CLASS; api/ must not import workers/, a unit test keeps them equal).
PARTITION_LOCK_CLASS = 0x6873


@dataclass
class PipelineSnapshot:
    """What one scrape read, as metric families."""

    families: list[Metric] = field(default_factory=list)

    def add(self, family: Metric, samples: Iterable[tuple[list[str], float]]) -> None:
        for labels, value in samples:
            family.add_metric(labels, value)  # type: ignore[attr-defined]
        self.families.append(family)


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


async def _database_figures(
    pool: Any, heartbeat_timeout: float
) -> tuple[dict[tuple[int, str], tuple[str, int]], int, set[int]]:
    async with pool.acquire() as conn:
        offsets = {
            (r["partition"], r["stream"]): (r["last_id"], r["late_events"])
            for r in await conn.fetch(
                "SELECT partition, stream, last_id, late_events FROM stream_offsets"
            )
        }
        live = await conn.fetchval(
            "SELECT count(*) FROM workers WHERE heartbeat_at > now() - make_interval(secs => $1)",
            heartbeat_timeout,
        )
        owned = {
            r["objid"]
            for r in await conn.fetch(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = $1 AND objsubid = 2",
                PARTITION_LOCK_CLASS,
            )
        }
    return offsets, int(live), {int(p) for p in owned}


async def pipeline_snapshot(
    settings: Any, pool: Any, redis: Any, backlog_monitor: BacklogMonitor
) -> PipelineSnapshot:
    partitions = range(settings.partitions)
    offsets, live, owned = await _database_figures(pool, settings.worker_heartbeat_timeout)
    async with redis.pipeline(transaction=False) as pipe:
        for p in partitions:
            pipe.hgetall(stats_key(p))
            for kind in KINDS:
                pipe.xlen(dead_letter_key(p, kind))
                last_id = offsets.get((p, kind), ("0-0", 0))[0]
                pipe.xlen(stream_key(p, kind))
                pipe.xrange(stream_key(p, kind), f"({last_id}", "+", count=1)
        replies = iter(await pipe.execute())

    now_ms = time.time() * 1000
    ingested, applied, backlog, age = [], [], [], []
    dead_total, dead_now, redeliveries, late, regressions = [], [], [], [], []
    for p in partitions:
        stats = {k.decode(): int(v) for k, v in (next(replies) or {}).items()}
        label = [str(p)]
        dead_total.append((label, float(stats.get("dead_letters", 0))))
        regressions.append((label, float(stats.get("stream_regressions", 0))))
        redeliveries.append((label, float(stats.get("redeliveries", 0))))
        late.append((label, float(offsets.get((p, "clicks"), ("", 0))[1])))
        for kind in KINDS:
            labels = [str(p), kind]
            dead_now.append((labels, float(next(replies))))
            count, oldest = next(replies), next(replies)
            oldest_age = max(0.0, (now_ms - parse_id(oldest[0][0])[0]) / 1000) if oldest else 0.0
            backlog.append((labels, float(count)))
            age.append((labels, round(oldest_age, 3)))
            ingested.append((labels, float(stats.get(f"{kind}_ingested_events", 0))))
            applied.append((labels, float(stats.get(f"{kind}_applied_entries", 0))))

    snap = PipelineSnapshot()
    p_kind = ["partition", "stream"]
    snap.add(
        CounterMetricFamily(
            "helpstream_ingested_events", "Events buffered in Redis (202 answered).", labels=p_kind
        ),
        ingested,
    )
    snap.add(
        CounterMetricFamily(
            "helpstream_applied_entries", "Stream entries applied to PostgreSQL.", labels=p_kind
        ),
        applied,
    )
    snap.add(
        GaugeMetricFamily(
            "helpstream_backlog_entries",
            "Stream entries not yet trimmed (≈ unapplied).",
            labels=p_kind,
        ),
        backlog,
    )
    snap.add(
        GaugeMetricFamily(
            "helpstream_oldest_unapplied_age_seconds",
            "Age of the oldest entry not yet applied (0 when caught up).",
            labels=p_kind,
        ),
        age,
    )
    snap.add(
        CounterMetricFamily(
            "helpstream_dead_letters",
            "Entries moved to the dead-letter stream.",
            labels=["partition"],
        ),
        dead_total,
    )
    snap.add(
        GaugeMetricFamily(
            "helpstream_dead_letter_entries",
            "Entries in the dead-letter stream now (capped by max_dead_letters).",
            labels=p_kind,
        ),
        dead_now,
    )
    snap.add(
        CounterMetricFamily(
            "helpstream_stream_regressions",
            "Times a worker found a stream's newest ID below its applied offset (Redis lost data).",
            labels=["partition"],
        ),
        regressions,
    )
    snap.add(
        GaugeMetricFamily(
            "helpstream_backlog_bytes",
            "Redis memory of unapplied events, per stream kind (as this API process measured).",
            labels=["stream"],
        ),
        [([kind], float(backlog_monitor.backlog_bytes(kind))) for kind in KINDS],
    )
    snap.add(
        GaugeMetricFamily(
            "helpstream_backlog_limit_bytes",
            "Backlog above which ingest of that kind answers 503.",
            labels=["stream"],
        ),
        [([kind], float(backlog_monitor.max_bytes[kind])) for kind in KINDS],
    )
    snap.add(
        CounterMetricFamily(
            "helpstream_redeliveries",
            "Entries delivered again after a crash.",
            labels=["partition"],
        ),
        redeliveries,
    )
    snap.add(
        CounterMetricFamily(
            "helpstream_late_events",
            "Click events beyond allowed_lateness (kept, not sessionized).",
            labels=["partition"],
        ),
        late,
    )
    snap.add(
        GaugeMetricFamily("helpstream_live_workers", "Worker processes with a fresh heartbeat."),
        [([], float(live))],
    )
    snap.add(
        GaugeMetricFamily(
            "helpstream_partition_owned",
            "1 when a live worker owns the partition (holds its lock), else 0.",
            labels=["partition"],
        ),
        [([str(p)], 1.0 if p in owned else 0.0) for p in partitions],
    )
    return snap


@router.get(
    "/metrics",
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    response_class=Response,
    summary="Prometheus metrics: ingested, applied, backlog, age, dead letters, late events, "
    "workers, request durations",
)
async def metrics(
    request: Request, settings: AppSettings, pool: Pool, redis: Redis, buffer: Buffer
) -> Response:
    snapshot = await pipeline_snapshot(settings, pool, redis, buffer.backlog)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Snapshot(snapshot.families))
    api_metrics: ApiMetrics = request.app.state.api_metrics
    body = generate_latest(scrape) + generate_latest(api_metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
