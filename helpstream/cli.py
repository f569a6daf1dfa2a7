"""`helpstream` command line: up, api, worker, migrate, keys, demo (contract §1)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpstream.settings import Settings

log = logging.getLogger("helpstream")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from helpstream.api.app import create_app

    settings = _settings(args)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        log_level="info",
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
    if args.check:
        from helpstream.workers.health import check_worker

        healthy, why = asyncio.run(check_worker(settings))
        print(why, file=sys.stdout if healthy else sys.stderr)
        return 0 if healthy else 1
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


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo help desk and clickstream into a running helpstream, over HTTP."""
    import httpx

    from helpstream.demo import DemoError, load

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request: noise here
    settings = _settings(args)
    url = args.url or f"http://{settings.host}:{settings.port}"
    api_key = args.api_key or os.environ.get("HELPSTREAM_API_KEY") or _demo_key(settings)
    try:
        load(url, api_key=api_key, seed=args.seed)
    except DemoError as exc:
        print(f"\nhelpstream demo: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(f"\nhelpstream demo: cannot reach {url} ({exc}); is it up?", file=sys.stderr)
        return 1
    return 0


def _demo_key(settings: Settings) -> str:
    """No key given: make one in the database `up` uses (same resolution as `keys create`)."""
    from helpstream.database import connection
    from helpstream.keys import create_key

    async def make(database_url: str) -> str:
        async with connection(database_url) as conn:
            return (await create_key(conn, "admin", "demo")).key

    with database_url_for(settings) as database_url:
        return asyncio.run(make(database_url))


@contextmanager
def database_url_for(settings: Settings) -> Iterator[str]:
    """The configured database, or the embedded one under the data dir (as `up` uses it).

    A running `helpstream up` keeps its embedded server; this process only borrows it.
    """
    if settings.database_url:
        yield settings.database_url
        return
    from helpstream.embedded import EmbeddedPostgres

    postgres = EmbeddedPostgres(Path(settings.data_dir))
    try:
        yield postgres.start()
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


def cmd_up(args: argparse.Namespace) -> int:
    """Embedded servers (when no URLs are set), then the API and the workers, supervised."""
    from helpstream.embedded import EmbeddedServices

    settings = _settings(args)
    services = EmbeddedServices(Path(settings.data_dir))
    database_url, redis_url = services.start(settings.database_url, settings.redis_url)
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": database_url,
        "HELPSTREAM_REDIS_URL": redis_url,
        "HELPSTREAM_HOST": settings.host,
        "HELPSTREAM_PORT": str(settings.port),
    }
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        first_key = asyncio.run(_first_run_admin_key(database_url))
        python = sys.executable
        children.append(subprocess.Popen([python, "-m", "helpstream.cli", "api"], env=env))
        for _ in range(max(1, args.workers)):
            children.append(subprocess.Popen([python, "-m", "helpstream.cli", "worker"], env=env))
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
            for child in children:
                if child.poll() is not None:
                    log.error("a helpstream process exited (%s); stopping", child.returncode)
                    stopping, exit_code = True, 1
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
    return exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run everything (embedded servers when no URLs are set)")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--data-dir", dest="data_dir")
    up.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run a worker")
    worker.add_argument(
        "--check",
        action="store_true",
        help="health check: exit 0 when PostgreSQL and Redis answer and a worker on this "
        "host heartbeats, 1 otherwise",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--data-dir", dest="data_dir")
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="create, list or revoke API keys")
    keys.add_argument("--data-dir", dest="data_dir")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it on the last line")
    create.add_argument("--scope", required=True, choices=["ingest", "read", "admin"])
    create.add_argument("--name", default="", help="what the key is for")
    create.add_argument("--data-dir", dest="data_dir", default=argparse.SUPPRESS)
    keys_sub.add_parser("list", help="list keys (never their secrets)").add_argument(
        "--data-dir", dest="data_dir", default=argparse.SUPPRESS
    )
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--data-dir", dest="data_dir", default=argparse.SUPPRESS)
    keys.set_defaults(func=cmd_keys)

    demo = sub.add_parser(
        "demo", help="load a demo help desk and support-site clickstream through the API"
    )
    demo.add_argument(
        "--url", help="a running helpstream (default: http://HELPSTREAM_HOST:HELPSTREAM_PORT)"
    )
    demo.add_argument("--data-dir", dest="data_dir", help="as given to `up` (to make a key)")
    demo.add_argument(
        "--api-key",
        dest="api_key",
        help="an admin key (or HELPSTREAM_API_KEY); default: a new one from the database",
    )
    demo.add_argument("--seed", type=int, default=2018, help="same seed, same data")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from helpstream.logs import install_log_redaction

    install_log_redaction()
    logging.basicConfig(
        level=os.environ.get("HELPSTREAM_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
