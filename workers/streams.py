"""Stream layout shared by the API (which appends) and the workers (which consume).

Each partition owns a handful of keys sharing one hash tag, so that in Redis Cluster a
partition lives on one slot (multi-key commands work) while partitions spread over nodes:

    hs:{p3}:clicks    click events of customers with customer_id % partitions == 3
    hs:{p3}:support   help-desk events of tickets with ticket_id % partitions == 3
    hs:{p3}:dead:clicks   click entries that could not be applied, with the reason
    hs:{p3}:dead:support  the same for help-desk entries (see `workers.dead_letters`)

One stream entry holds all events of one request for one partition (field ``b``: a JSON
array), so a 1,000-event batch costs a few XADDs rather than 1,000.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

KINDS = ("clicks", "support")
PAYLOAD_FIELD = b"b"

RedisClient = aioredis.Redis | RedisCluster


def stream_key(partition: int, kind: str) -> str:
    return f"hs:{{p{partition}}}:{kind}"


def dead_letter_key(partition: int, kind: str) -> str:
    """Dead letters of one stream, under their original entry IDs (so writing is idempotent)."""
    return f"hs:{{p{partition}}}:dead:{kind}"


def stats_key(partition: int) -> str:
    """A hash of counters for /metrics (ingested, applied, dead letters, redeliveries)."""
    return f"hs:{{p{partition}}}:stats"


def encode_events(events: list[Any]) -> bytes:
    return orjson.dumps(events)


def decode_events(fields: dict[bytes, bytes]) -> list[Any]:
    """The events of one entry; raises ValueError for an entry that is not ours."""
    payload = fields.get(PAYLOAD_FIELD)
    if payload is None:
        raise ValueError("entry has no payload field")
    events = orjson.loads(payload)
    if not isinstance(events, list):
        raise ValueError("payload is not a list")
    return events


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream ID as a comparable (milliseconds, sequence) pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def connect_redis(url: str, cluster: bool) -> RedisClient:
    """A client for a single node or a cluster; connection errors surface on first use."""
    if cluster:
        return RedisCluster.from_url(url)
    return aioredis.Redis.from_url(url, health_check_interval=30)
