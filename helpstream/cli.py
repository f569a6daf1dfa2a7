"""`helpstream` command line: up, api, worker, migrate, keys, demo, dlq (contract §1)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from helpstream import __version__
from helpstream.cli_errors import CliError, connecting, settings_error
from helpstream.cli_help import setting_help
from helpstream.settings import Settings

log = logging.getLogger("helpstream")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise settings_error(exc) from None


def _require_urls(settings: Settings) -> tuple[str, str]:
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


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from helpstream.api.app import create_app
    from helpstream.db.deployment import prepare_database_url
    from helpstream.log_config import logging_config

    settings = _settings(args)
    check_reachable(*_require_urls(settings), settings.redis_cluster)
    app = create_app(settings)
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


def _run_until_signal(main: Any) -> None:
    """Run ``main(stop_event)`` until SIGINT/SIGTERM sets the event."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def cmd_worker(args: argparse.Namespace) -> int:
    from helpstream.workers.runner import run_worker

    settings = _settings(args)
    check_reachable(*_require_urls(settings), settings.redis_cluster)
    _run_until_signal(lambda stop: run_worker(settings, stop))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from helpstream.db.migrate import migrate_url

    with database_url_for(_settings(args)) as database_url:
        applied = asyncio.run(migrate_url(database_url))
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


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

    with database_url_for(_settings(args)) as database_url:
        return asyncio.run(run(database_url))


def cmd_partitions(args: argparse.Namespace) -> int:
    """Show the recorded partition count, or change it once everything is drained."""
    import asyncpg

    from helpstream.db.deployment import RepartitionRefused, change_partitions
    from helpstream.db.migrate import migrate
    from helpstream.embedded import EmbeddedServices
    from helpstream.streams import KINDS, connect_redis, stream_key

    settings = _settings(args)

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


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo help desk and clickstream into a running helpstream, over HTTP."""
    import httpx

    from helpstream.demo import DemoError, load

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request: noise here
    settings = _settings(args)
    url = args.url or f"http://{settings.host}:{settings.port}"
    with _demo_key(settings, args.api_key or os.environ.get("HELPSTREAM_API_KEY")) as api_key:
        try:
            load(url, api_key=api_key, seed=args.seed)
        except DemoError as exc:
            print(f"\nhelpstream demo: {exc}", file=sys.stderr)
            return 1
        except httpx.TransportError as exc:
            print(f"\nhelpstream demo: cannot reach {url} ({exc}); is it up?", file=sys.stderr)
            return 1
    return 0


@contextmanager
def _demo_key(settings: Settings, given: str | None) -> Iterator[str]:
    """The given key, or a temporary admin key in the database `up` uses, revoked when the
    demo ends (however it ends), so that demos leave no usable keys behind."""
    if given:
        yield given
        return
    from helpstream.database import connection
    from helpstream.keys import create_key, revoke_key

    with database_url_for(settings) as database_url:

        async def make() -> tuple[int, str]:
            async with connection(database_url) as conn:
                created = await create_key(conn, "admin", "demo (temporary, revoked after it)")
                return created.id, created.key

        async def revoke(key_id: int) -> None:
            async with connection(database_url) as conn:
                await revoke_key(conn, key_id)

        key_id, key = asyncio.run(make())
        try:
            yield key
        finally:
            asyncio.run(revoke(key_id))


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


async def _first_run_admin_key(database_url: str) -> str | None:
    """On a database without any usable key, create an admin key so the API is usable."""
    from helpstream.database import connection
    from helpstream.keys import create_key

    async with connection(database_url) as conn:
        if await conn.fetchval("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"):
            return None
        return (await create_key(conn, "admin", "first-run")).key


def _start_services(services: Any, settings: Settings) -> tuple[str, str]:
    """`up`'s servers, with a short readable account (their own logs go to files)."""
    from helpstream.cli_errors import safe_url
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

    settings = _settings(args)
    services = EmbeddedServices(Path(settings.data_dir))
    database_url, redis_url = _start_services(services, settings)
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
            first_key = asyncio.run(_first_run_admin_key(database_url))
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


def cmd_dlq(args: argparse.Namespace) -> int:
    from helpstream.workers.dead_letters import run_cli

    settings = _settings(args)
    return run_cli(args, settings.redis_url, settings.redis_cluster, settings.partitions)


def build_parser() -> argparse.ArgumentParser:
    from helpstream.cli_help import plain_help

    parser = argparse.ArgumentParser(
        prog="helpstream",
        description=__doc__,
        epilog="Every setting is also an environment variable HELPSTREAM_<NAME> (see the "
        "README's settings table); options given here win.",
    )
    parser.add_argument("--version", action="version", version=f"helpstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir_option(p: argparse.ArgumentParser, **kwargs: Any) -> None:
        p.add_argument("--data-dir", dest="data_dir", help=setting_help("data_dir"), **kwargs)

    up = sub.add_parser("up", help="run everything (embedded servers when no URLs are set)")
    up.add_argument("--host", help=setting_help("host"))
    up.add_argument("--port", type=int, help=setting_help("port"))
    data_dir_option(up)
    up.add_argument("--workers", type=int, default=1, help=plain_help("worker processes", 1))
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host", help=setting_help("host"))
    api.add_argument("--port", type=int, help=setting_help("port"))
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run a worker")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    data_dir_option(migrate)
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="create, list or revoke API keys")
    data_dir_option(keys)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it on the last line")
    create.add_argument(
        "--scope",
        required=True,
        choices=["ingest", "read", "admin"],
        help="what the key may do (required, no default; no environment variable)",
    )
    create.add_argument("--name", default="", help=plain_help("what the key is for", '""'))
    data_dir_option(create, default=argparse.SUPPRESS)
    data_dir_option(
        keys_sub.add_parser("list", help="list keys (never their secrets)"),
        default=argparse.SUPPRESS,
    )
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    data_dir_option(revoke, default=argparse.SUPPRESS)
    keys.set_defaults(func=cmd_keys)

    partitions = sub.add_parser(
        "partitions", help="show the recorded partition count, or change it when drained"
    )
    partitions.add_argument("--data-dir", dest="data_dir")
    partitions_sub = partitions.add_subparsers(dest="partitions_command")
    change = partitions_sub.add_parser(
        "set",
        help="record a new count: only with every api and worker stopped and nothing "
        "left to apply (checked)",
    )
    change.add_argument("count", type=int)
    change.add_argument("--data-dir", dest="data_dir", default=argparse.SUPPRESS)
    partitions.set_defaults(func=cmd_partitions)

    demo = sub.add_parser(
        "demo", help="load a demo help desk and support-site clickstream through the API"
    )
    demo.add_argument(
        "--url",
        help="a running helpstream (default: http://HELPSTREAM_HOST:HELPSTREAM_PORT, "
        "i.e. http://127.0.0.1:8000; env: HELPSTREAM_HOST and HELPSTREAM_PORT)",
    )
    data_dir_option(demo)
    demo.add_argument(
        "--api-key",
        dest="api_key",
        help="an admin key (default: a temporary one made in the database and revoked "
        "when the demo ends; env: HELPSTREAM_API_KEY)",
    )
    demo.add_argument(
        "--seed", type=int, default=2018, help=plain_help("same seed, same data", 2018)
    )
    demo.set_defaults(func=cmd_demo)

    from helpstream.workers.dead_letters import add_cli_parser

    add_cli_parser(sub).set_defaults(func=cmd_dlq)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from helpstream.log_config import configure_logging
    from helpstream.logs import install_log_redaction

    install_log_redaction()
    args = build_parser().parse_args(argv)
    from helpstream.db.deployment import PartitionCountMismatch

    try:
        settings = _settings(args)
        configure_logging(settings.log_level, settings.log_format)
        code: int = args.func(args)
    except PartitionCountMismatch as exc:  # a clear refusal, not a traceback
        print(f"helpstream: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
