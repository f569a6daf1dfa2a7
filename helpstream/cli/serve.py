"""The commands that run helpstream: `up`, `api`, `worker`, `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from helpstream import __version__
from helpstream.cli.common import (
    check_reachable,
    database_url_for,
    require_urls,
    run_until_signal,
    settings_from,
)
from helpstream.cli.errors import CliError, connecting
from helpstream.settings import Settings

log = logging.getLogger("helpstream")


def tune_garbage_collector() -> None:
    """Fewer young-generation collections in the serving processes. A worker batch or an
    ingest batch builds hundreds of thousands of short-lived tuples and small objects,
    which the default threshold (700 allocations) would scan hundreds of times each; few
    form reference cycles, and those are still collected, every 50,000 allocations. What
    is alive after start-up (modules, settings) is frozen out of every later collection.
    Measured: one worker 39k -> 47k events/s (`load_tests.sessionize --events 300000`)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from helpstream.api.app import create_app
    from helpstream.db.deployment import prepare_database_url
    from helpstream.log_config import logging_config

    settings = settings_from(args)
    check_reachable(*require_urls(settings), settings.redis_cluster)
    app = create_app(settings)
    tune_garbage_collector()
    # Before serving: a wrong partition count ends here with its message, not a traceback.
    asyncio.run(prepare_database_url(settings.require_urls()[0], settings.partitions))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        log_config=logging_config(settings.log_level, settings.log_format),
        log_level=settings.log_level.lower(),
        access_log=False,
        # Open event streams never end by themselves: cancel them this long after a SIGTERM.
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from helpstream.workers.runner import run_worker

    settings = settings_from(args)
    if args.check:
        from helpstream.workers.health import check_worker

        healthy, why = asyncio.run(check_worker(settings))
        print(why, file=sys.stdout if healthy else sys.stderr)
        return 0 if healthy else 1
    check_reachable(*require_urls(settings), settings.redis_cluster)
    tune_garbage_collector()
    run_until_signal(lambda stop: run_worker(settings, stop))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from helpstream.db.migrate import migrate_url

    with database_url_for(settings_from(args)) as database_url:
        applied = asyncio.run(migrate_url(database_url))
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


async def first_run_admin_key(database_url: str) -> str | None:
    """On a database without any usable key, create an admin key so the API is usable."""
    from helpstream.database import connection
    from helpstream.keys import create_key

    async with connection(database_url) as conn:
        if await conn.fetchval("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"):
            return None
        return (await create_key(conn, "admin", "first-run")).key


def start_services(services: Any, settings: Settings) -> tuple[str, str]:
    """`up`'s servers, with a short readable account (their own logs go to files)."""
    from helpstream.cli.errors import safe_url
    from helpstream.embedded import embedded_logs_to_files

    log_file = embedded_logs_to_files(Path(settings.data_dir))
    print(f"helpstream {__version__} starting", flush=True)
    try:
        database_url, redis_url = services.start(settings.database_url, settings.redis_url)
    except Exception as exc:
        raise CliError(f"cannot start the embedded servers: {exc} (see {log_file})") from exc
    for what, configured, url, where in (
        ("PostgreSQL", settings.database_url, database_url, services.postgres.pgdata),
        ("Redis", settings.redis_url, redis_url, services.redis.dir),
    ):
        origin = f"external, {safe_url(url)}" if configured else f"embedded, data in {where}"
        print(f"  {what + ':':<11} {origin}", flush=True)
    if not (settings.database_url and settings.redis_url):
        print(f"  {'logs:':<11} {log_file} and redis/redis.log, postgres/log", flush=True)
    return database_url, redis_url


def cmd_up(args: argparse.Namespace) -> int:
    """Embedded servers (when no URLs are set), then the API and the workers, supervised:
    a child that dies is restarted with backoff (`helpstream.supervise`); Ctrl-C stops all."""
    from helpstream.embedded import EmbeddedServices
    from helpstream.supervise import Supervisor

    settings = settings_from(args)
    services = EmbeddedServices(Path(settings.data_dir))
    database_url, redis_url = start_services(services, settings)
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": database_url,
        "HELPSTREAM_REDIS_URL": redis_url,
        "HELPSTREAM_HOST": settings.host,
        "HELPSTREAM_PORT": str(settings.port),
    }
    supervisor = Supervisor(env)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        from helpstream.db.deployment import prepare_database_url

        with connecting("PostgreSQL", database_url, "HELPSTREAM_DATABASE_URL"):
            asyncio.run(prepare_database_url(database_url, settings.partitions))
            first_key = asyncio.run(first_run_admin_key(database_url))
        python = sys.executable
        supervisor.add("api", [python, "-m", "helpstream.cli", "api"])
        for i in range(max(1, args.workers)):
            supervisor.add(f"worker {i + 1}", [python, "-m", "helpstream.cli", "worker"])
        print(
            f"helpstream is up: http://{settings.host}:{settings.port}/docs "
            f"(dashboard: /dashboard). Ctrl-C stops it.",
            flush=True,
        )
        if first_key:
            print(
                "No API keys existed, so an admin key was created (shown once, keep it):\n"
                f"  {first_key}\n"
                "More keys: helpstream keys create --scope ingest|read|admin",
                flush=True,
            )
        while not stopping:
            supervisor.poll()
            time.sleep(0.2)
    finally:
        supervisor.stop()
        services.stop()
    return 0
