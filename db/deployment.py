"""The settings a deployment records at first setup, and the startup check against them.

Contract §6: the partition count is recorded in the database when it is first set up; a
process configured with another count refuses to start. Every entry point (`helpstream up`,
`api`, `worker`, the app's lifespan, `run_worker`) calls `prepare_database`, so the check
cannot be skipped by starting a process some other way.
"""

from __future__ import annotations

import asyncpg

from db.migrate import migrate


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
