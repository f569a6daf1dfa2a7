"""Redis layout shared by the API (which appends) and the workers (which consume).

Each partition owns a handful of keys sharing one hash tag, so that in Redis Cluster a
partition lives on one slot (multi-key commands work) while partitions spread over nodes:

    hs:{p3}:clicks    click events of customers with customer_id % partitions == 3
    hs:{p3}:support   help-desk events of tickets with ticket_id % partitions == 3
    hs:{p3}:dead:clicks   click entries that could not be applied, with the reason
    hs:{p3}:dead:support  the same for help-desk entries (see `helpstream.workers.dead_letters`)
    hs:{p3}:stats     counters for /metrics

What an entry holds is `helpstream.wire`'s business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

if TYPE_CHECKING:
    from helpstream.settings import Settings

KINDS = ("clicks", "support")

RedisClient = aioredis.Redis | RedisCluster

MAX_CONNECTIONS = 2048
"""Per client (per node in a cluster). A worker holds one blocking XREAD per owned partition
(up to 1024): redis-py's default of 100 made a worker owning 100+ partitions fail."""


def stream_key(partition: int, kind: str) -> str:
    return f"hs:{{p{partition}}}:{kind}"


def dead_letter_key(partition: int, kind: str) -> str:
    """Dead letters of one stream, under their original entry IDs (so writing is idempotent)."""
    return f"hs:{{p{partition}}}:dead:{kind}"


def stats_key(partition: int) -> str:
    """A hash of counters for /metrics (ingested, applied, dead letters, redeliveries)."""
    return f"hs:{{p{partition}}}:stats"


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream ID as a comparable (milliseconds, sequence) pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def connect_redis(
    url: str,
    cluster: bool,
    *,
    socket_timeout: float = 10.0,
    connect_timeout: float = 5.0,
    health_check_interval: float = 15.0,
) -> RedisClient:
    """A client for a single node or a cluster; connection errors surface on first use.

    Every timeout is explicit (defaults as the `redis_*` settings): a reply that never
    comes (a blackholed connection) raises a TimeoutError after ``socket_timeout`` instead
    of hanging the caller; it must exceed the workers' XREAD block time.
    """
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": health_check_interval,
    }
    if cluster:
        return RedisCluster.from_url(url, max_connections=MAX_CONNECTIONS, **options)
    return aioredis.Redis.from_url(url, max_connections=MAX_CONNECTIONS, **options)


def redis_options(settings: Settings) -> dict[str, float]:
    """connect_redis's timeouts from a `Settings`."""
    return {
        "socket_timeout": settings.redis_socket_timeout,
        "connect_timeout": settings.redis_connect_timeout,
        "health_check_interval": settings.redis_health_check_interval,
    }


async def detect_cluster(url: str) -> bool:
    """Whether the server at ``url`` runs in cluster mode (contract §6: detected, no flag).

    `INFO cluster` answers `cluster_enabled:1` on a cluster node, 0 on a single server.
    """
    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("cluster")
    finally:
        await client.aclose()
    return bool(int(info.get("cluster_enabled", 0)))
