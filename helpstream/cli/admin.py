"""Operator commands: `keys`, `partitions`, `dlq`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from helpstream.cli.common import database_url_for, settings_from

log = logging.getLogger("helpstream")


def cmd_keys(args: argparse.Namespace) -> int:
    """Create, list or revoke API keys directly in the database (migrating it first).

    `create` prints the key on the last line of stdout (and only there), so scripts can
    take it with `tail -n 1`.
    """
    from helpstream.database import connection
    from helpstream.keys import create_key, list_keys, revoke_key

    async def run(database_url: str) -> int:
        async with connection(database_url) as conn:
            if args.keys_command == "create":
                created = await create_key(conn, args.scope, args.name)
                print(f"created API key {created.id} ({created.scope}) {created.name}".rstrip())
                print("store it now: it cannot be shown again")
                print(created.key)
            elif args.keys_command == "list":
                print("id\tscope\tprefix\tname\tcreated_at\tlast_used_at\trevoked_at")
                for key in await list_keys(conn):
                    print(
                        f"{key.id}\t{key.scope}\t{key.prefix}\t{key.name}\t"
                        f"{key.created_at.isoformat()}\t"
                        f"{key.last_used_at.isoformat() if key.last_used_at else '-'}\t"
                        f"{key.revoked_at.isoformat() if key.revoked_at else '-'}"
                    )
            else:
                revoked = await revoke_key(conn, args.id)
                if revoked is None:
                    print(f"no API key with id {args.id}", file=sys.stderr)
                    return 1
                print(f"revoked API key {revoked.id} ({revoked.scope}) {revoked.name}".rstrip())
            return 0

    with database_url_for(settings_from(args)) as database_url:
        return asyncio.run(run(database_url))


def cmd_partitions(args: argparse.Namespace) -> int:
    """Show the recorded partition count, or change it once everything is drained."""
    import asyncpg

    from helpstream.db.deployment import RepartitionRefused, change_partitions
    from helpstream.db.migrate import migrate
    from helpstream.embedded import EmbeddedServices
    from helpstream.streams import KINDS, connect_redis, stream_key

    settings = settings_from(args)

    async def run(database_url: str, redis_url: str) -> int:
        conn = await asyncpg.connect(database_url)
        try:
            await migrate(conn)
            if args.partitions_command != "set":
                recorded = await conn.fetchval("SELECT partitions FROM deployment")
                print(recorded if recorded is not None else "not recorded yet (no process ran)")
                return 0
            old = await conn.fetchval("SELECT partitions FROM deployment") or settings.partitions
            redis = connect_redis(redis_url, settings.redis_cluster)
            try:
                newest: dict[tuple[int, str], str] = {}
                for p in range(old):
                    for kind in KINDS:
                        last = await redis.xrevrange(stream_key(p, kind), count=1)
                        if last:
                            entry_id = last[0][0]
                            newest[(p, kind)] = (
                                entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                            )
            finally:
                await redis.aclose()
            try:
                old = await change_partitions(
                    conn, args.count, newest, settings.worker_heartbeat_timeout
                )
            except RepartitionRefused as exc:
                print(f"helpstream: not changed: {exc}", file=sys.stderr)
                return 1
            change = f"changed from {old} to" if old != args.count else "recorded:"
            print(
                f"partition count {change} {args.count}: start every process "
                f"with HELPSTREAM_PARTITIONS={args.count}"
            )
            return 0
        finally:
            await conn.close()

    services = EmbeddedServices(Path(settings.data_dir))  # as `up` uses them, when no URLs
    database_url, redis_url = services.start(settings.database_url, settings.redis_url)
    try:
        return asyncio.run(run(database_url, redis_url))
    finally:
        services.stop()


def cmd_dlq(args: argparse.Namespace) -> int:
    from helpstream.workers.dead_letters import run_cli

    settings = settings_from(args)
    return run_cli(args, settings.redis_url, settings.redis_cluster, settings.partitions)
