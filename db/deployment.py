"""The settings a deployment records at first setup, and the startup check against them.

Contract §6: the partition count is recorded in the database when it is first set up; a
process configured with another count refuses to start. Every entry point (`helpstream up`,
`api`, `worker`, the app's lifespan, `run_worker`) calls `prepare_database`, so the check
cannot be skipped by starting a process some other way.
"""

from __future__ import annotations

import asyncpg

from helpstream.db.migrate import migrate
from helpstream.streams import parse_id


class PartitionCountMismatch(RuntimeError):
    """This process is configured with another partition count than the deployment."""

    def __init__(self, recorded: int, configured: int) -> None:
        self.recorded, self.configured = recorded, configured
        super().__init__(
            f"this database was set up with HELPSTREAM_PARTITIONS={recorded}, but this process "
            f"is configured with HELPSTREAM_PARTITIONS={configured}; refusing to start (events "
            f"would go to partitions no worker applies). Start it with "
            f"HELPSTREAM_PARTITIONS={recorded}. To change the count safely: stop every "
            f"`helpstream api` (no new events), let the workers drain every stream "
            f"(helpstream_backlog_entries 0 in /metrics), stop every `helpstream worker`, run "
            f"`helpstream partitions set {configured}` (it checks that nothing is left to "
            f"apply), then start everything with HELPSTREAM_PARTITIONS={configured} (README: "
            f"'Changing the partition count')."
        )


async def recorded_partitions(conn: asyncpg.Connection, configured: int) -> int:
    """The deployment's partition count; the first process to ask records ``configured``.

    Race-safe: of concurrent first starts, one INSERT wins and the others' ON CONFLICT
    waits for its commit and inserts nothing, so all read the same row.
    """
    await conn.execute(
        "INSERT INTO deployment (id, partitions) VALUES (true, $1) ON CONFLICT (id) DO NOTHING",
        configured,
    )
    recorded: int = await conn.fetchval("SELECT partitions FROM deployment WHERE id")
    return recorded


async def check_partitions(conn: asyncpg.Connection, configured: int) -> None:
    """Raise `PartitionCountMismatch` unless ``configured`` is the deployment's count."""
    recorded = await recorded_partitions(conn, configured)
    if recorded != configured:
        raise PartitionCountMismatch(recorded, configured)


async def prepare_database(conn: asyncpg.Connection, partitions: int) -> list[str]:
    """What every process does first: migrate, then check the partition count."""
    applied = await migrate(conn)
    await check_partitions(conn, partitions)
    return applied


async def prepare_database_url(database_url: str, partitions: int) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return await prepare_database(conn, partitions)
    finally:
        await conn.close()


class RepartitionRefused(RuntimeError):
    """Changing the partition count now would lose or misroute events."""


async def change_partitions(
    conn: asyncpg.Connection,
    new: int,
    newest_ids: dict[tuple[int, str], str],
    heartbeat_timeout: float,
) -> int:
    """Record a new partition count (`helpstream partitions set`); returns the old one.

    Only safe once nothing is left to apply: ``newest_ids`` is the newest entry ID of every
    stream (partition, kind) of the old count, read from Redis by the caller after the APIs
    were stopped; each must be at or below the applied offset. No worker may be running.
    Open paths move to their customer's new partition (the one whose worker closes them);
    everything else is keyed by customer or ticket, not by partition.
    """
    if not 1 <= new <= 1024:
        raise RepartitionRefused("the partition count must be between 1 and 1024")
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO deployment (id, partitions) VALUES (true, $1) ON CONFLICT DO NOTHING",
            new,
        )
        old: int = await conn.fetchval("SELECT partitions FROM deployment WHERE id FOR UPDATE")
        live = await conn.fetchval(
            "SELECT count(*) FROM workers WHERE heartbeat_at > now() - make_interval(secs => $1)",
            heartbeat_timeout,
        )
        if live:
            raise RepartitionRefused(
                f"{live} worker(s) still running: stop every `helpstream worker` first"
            )
        offsets = {
            (r["partition"], r["stream"]): r["last_id"]
            for r in await conn.fetch("SELECT partition, stream, last_id FROM stream_offsets")
        }
        pending = sorted(
            f"partition {p} {kind}"
            for (p, kind), newest in newest_ids.items()
            if parse_id(newest) > parse_id(offsets.get((p, kind), "0-0"))
        )
        if pending:
            raise RepartitionRefused(
                "events not yet applied in " + ", ".join(pending) + ": stop every "
                "`helpstream api`, run the workers until the backlog is 0, then stop them"
            )
        await conn.execute(
            "UPDATE open_paths SET partition = customer_id % $1"
            " WHERE partition <> customer_id % $1",
            new,
        )
        await conn.execute("UPDATE deployment SET partitions = $1, recorded_at = now()", new)
    return old
