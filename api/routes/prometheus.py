"""GET /metrics: the pipeline's health in Prometheus text format (contract §6)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from helpstream.api.deps import AppSettings, Buffer, Pool, Redis
from helpstream.streams import KINDS, dead_letter_key, parse_id, stats_key, stream_key

router = APIRouter(tags=["health"])

_HELP = {
    "helpstream_ingested_events_total": ("counter", "Events buffered in Redis (202 answered)."),
    "helpstream_applied_entries_total": ("counter", "Stream entries applied to PostgreSQL."),
    "helpstream_backlog_entries": ("gauge", "Stream entries not yet trimmed (≈ unapplied)."),
    "helpstream_oldest_unapplied_age_seconds": (
        "gauge",
        "Age of the oldest entry not yet applied (0 when caught up).",
    ),
    "helpstream_dead_letters_total": ("counter", "Entries moved to the dead-letter stream."),
    "helpstream_dead_letter_entries": (
        "gauge",
        "Entries in the dead-letter stream now (capped by max_dead_letters).",
    ),
    "helpstream_redeliveries_total": ("counter", "Entries delivered again after a crash."),
    "helpstream_late_events_total": ("counter", "Click events beyond allowed_lateness."),
    "helpstream_backlog_bytes": ("gauge", "Redis memory of unapplied events, per stream kind."),
    "helpstream_backlog_limit_bytes": ("gauge", "Backlog above which ingest answers 503."),
    "helpstream_stream_regressions_total": (
        "counter",
        "Times a worker found a stream's newest ID below its applied offset (Redis lost data).",
    ),
}


@router.get(
    "/metrics",
    responses={
        200: {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    response_class=Response,
    summary="Prometheus metrics: ingested, applied, backlog, age, dead letters, late events",
)
async def metrics(
    settings: AppSettings, pool: Pool, redis: Redis, buffer: Buffer
) -> PlainTextResponse:
    partitions = range(settings.partitions)
    offsets = {
        (r["partition"], r["stream"]): r["last_id"]
        for r in await pool.fetch("SELECT partition, stream, last_id FROM stream_offsets")
    }
    late = await pool.fetchval("SELECT coalesce(sum(late_events), 0) FROM path_rollups")
    async with redis.pipeline(transaction=False) as pipe:
        for p in partitions:
            pipe.hgetall(stats_key(p))
            for kind in KINDS:
                pipe.xlen(dead_letter_key(p, kind))
                pipe.xlen(stream_key(p, kind))
                pipe.xrange(stream_key(p, kind), f"({offsets.get((p, kind), '0-0')}", "+", count=1)
        replies = iter(await pipe.execute())

    now_ms = time.time() * 1000
    samples: dict[str, list[str]] = {name: [] for name in _HELP}
    for p in partitions:
        stats = {k.decode(): int(v) for k, v in (next(replies) or {}).items()}
        for name, field in (
            ("helpstream_dead_letters_total", "dead_letters"),
            ("helpstream_redeliveries_total", "redeliveries"),
            ("helpstream_stream_regressions_total", "stream_regressions"),
        ):
            samples[name].append(f'{{partition="{p}"}} {stats.get(field, 0)}')
        for kind in KINDS:
            labels = f'{{partition="{p}",stream="{kind}"}}'
            dead, backlog, oldest = next(replies), next(replies), next(replies)
            samples["helpstream_dead_letter_entries"].append(f"{labels} {dead}")
            age = max(0.0, (now_ms - parse_id(oldest[0][0])[0]) / 1000) if oldest else 0.0
            samples["helpstream_backlog_entries"].append(f"{labels} {backlog}")
            samples["helpstream_oldest_unapplied_age_seconds"].append(f"{labels} {age:.3f}")
            samples["helpstream_ingested_events_total"].append(
                f"{labels} {stats.get(f'{kind}_ingested_events', 0)}"
            )
            samples["helpstream_applied_entries_total"].append(
                f"{labels} {stats.get(f'{kind}_applied_entries', 0)}"
            )
    samples["helpstream_late_events_total"].append(f" {int(late)}")
    for kind in KINDS:  # as this API process last measured them (no extra Redis call)
        labels = f'{{stream="{kind}"}}'
        samples["helpstream_backlog_bytes"].append(f"{labels} {buffer.backlog.backlog_bytes(kind)}")
        limit = buffer.backlog.max_bytes[kind]
        samples["helpstream_backlog_limit_bytes"].append(f"{labels} {limit}")

    lines: list[str] = []
    for name, (kind, text) in _HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{sample}" for sample in samples[name]]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
