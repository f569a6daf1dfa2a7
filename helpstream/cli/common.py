"""What every command shares: settings from the flags, reachable servers, signals."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from helpstream.aio import run_on_fastest_loop
from helpstream.cli.errors import CliError, connecting, settings_error
from helpstream.settings import Settings

log = logging.getLogger("helpstream")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise settings_error(exc) from None


def require_urls(settings: Settings) -> tuple[str, str]:
    try:
        return settings.require_urls()
    except ValueError as exc:
        raise CliError(str(exc)) from None


def check_reachable(database_url: str, redis_url: str, cluster: bool) -> None:
    """Connect to both servers once, so that `api` and `worker` fail in one clear line."""
    import asyncpg

    from helpstream.streams import connect_redis

    async def check() -> None:
        with connecting("PostgreSQL", database_url, "HELPSTREAM_DATABASE_URL"):
            conn = await asyncpg.connect(database_url, timeout=10)
            await conn.close()
        with connecting("Redis", redis_url, "HELPSTREAM_REDIS_URL"):
            redis = connect_redis(redis_url, cluster)
            try:
                await redis.ping()
            finally:
                await redis.aclose()

    asyncio.run(check())


def run_until_signal(main: Any) -> None:
    """Run ``main(stop_event)`` until SIGINT/SIGTERM sets the event."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    run_on_fastest_loop(runner())


@contextmanager
def database_url_for(settings: Settings) -> Iterator[str]:
    """The configured database, or the embedded one under the data dir (as `up` uses it).

    A running `helpstream up` keeps its embedded server; this process only borrows it.
    """
    if settings.database_url:
        with connecting("PostgreSQL", settings.database_url, "HELPSTREAM_DATABASE_URL"):
            yield settings.database_url
        return
    from helpstream.embedded import EmbeddedPostgres, embedded_logs_to_files

    embedded_logs_to_files(Path(settings.data_dir))
    postgres = EmbeddedPostgres(Path(settings.data_dir))
    try:
        try:
            url = postgres.start()
        except Exception as exc:
            raise CliError(
                f"cannot start the embedded PostgreSQL in {postgres.pgdata}: {exc} "
                f"(see {postgres.pgdata / 'log'}; or set HELPSTREAM_DATABASE_URL)"
            ) from exc
        with connecting("the embedded PostgreSQL", url, "--data-dir / HELPSTREAM_DATA_DIR"):
            yield url
    finally:
        postgres.stop()
