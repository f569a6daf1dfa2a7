"""The argument parser: every command, and each option's default and variable."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from helpstream import __version__
from helpstream.cli.admin import cmd_dlq, cmd_keys, cmd_partitions
from helpstream.cli.demo import cmd_demo
from helpstream.cli.help import setting_help
from helpstream.cli.serve import cmd_api, cmd_migrate, cmd_up, cmd_worker

log = logging.getLogger("helpstream")


def build_parser() -> argparse.ArgumentParser:
    from helpstream.cli.help import plain_help

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
    worker.add_argument(
        "--check",
        action="store_true",
        help="health check: exit 0 when PostgreSQL and Redis answer and a worker on this "
        "host heartbeats, 1 otherwise (default: off; no environment variable)",
    )
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
    data_dir_option(partitions)
    partitions_sub = partitions.add_subparsers(dest="partitions_command")
    change = partitions_sub.add_parser(
        "set",
        help="record a new count: only with every api and worker stopped and nothing "
        "left to apply (checked)",
    )
    change.add_argument("count", type=int, help="the new partition count")
    data_dir_option(change, default=argparse.SUPPRESS)
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
