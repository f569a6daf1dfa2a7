"""How every helpstream process connects to PostgreSQL: explicit timeouts and keepalives.

Without them a connection whose peer vanished (a host gone, a network blackholing
packets) looks alive for hours: a statement on it waits forever, and a worker's advisory
locks stay held until the kernel's TCP keepalive gives up. So:

* ``command_timeout``: the client cancels any statement after this long; the caller sees
  a timeout (a transient error: the consumer retries, on a fresh connection if need be);
* ``timeout``: connecting gives up after this long;
* the server-side TCP keepalive and ``tcp_user_timeout``: the server drops a session
  whose client stopped answering within about half a minute, which releases its locks
  (ignored on Unix-domain sockets, where a dead peer is noticed at once).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from api.settings import Settings


def connect_options(
    settings: Settings, application_name: str, command_timeout: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``asyncpg.connect`` / ``asyncpg.create_pool``."""
    return {
        "command_timeout": command_timeout or settings.db_command_timeout,
        "timeout": settings.db_connect_timeout,
        "server_settings": {
            "application_name": application_name[:63],
            "tcp_keepalives_idle": str(settings.db_keepalive_idle),
            "tcp_keepalives_interval": str(settings.db_keepalive_interval),
            "tcp_keepalives_count": str(settings.db_keepalive_count),
            # Unacknowledged data: the same bound (milliseconds).
            "tcp_user_timeout": str(
                1000
                * (
                    settings.db_keepalive_idle
                    + settings.db_keepalive_interval * settings.db_keepalive_count
                )
            ),
        },
    }


async def create_pool(settings: Settings, dsn: str, application_name: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        **connect_options(settings, application_name),
    )
