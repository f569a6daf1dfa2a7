"""Command-line arguments every benchmark shares, and its `main`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from load_tests.base import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, BenchError
from load_tests.processes import install_signal_handlers


def bench_main(
    name: str,
    build_parser: Callable[[], argparse.ArgumentParser],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
) -> int:
    """A benchmark's command line: 2 when it could not run, 1 on a missed target with --check."""
    args = build_parser().parse_args(argv)
    install_signal_handlers(args.max_seconds)
    try:
        result = run(args)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    return 1 if args.check and result["verdict"] != "PASS" else 0


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("servers (isolated from test data)")
    group.add_argument(
        "--database-url",
        default=os.environ.get("HELPSTREAM_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database to DROP and re-create; its name must contain 'bench' "
        "(default: %(default)s, or HELPSTREAM_BENCH_DATABASE_URL)",
    )
    group.add_argument(
        "--redis-url",
        default=os.environ.get("HELPSTREAM_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis database to FLUSHDB; not DB 0 (default: %(default)s, or "
        "HELPSTREAM_BENCH_REDIS_URL)",
    )
    group.add_argument(
        "--embedded",
        action="store_true",
        help="start a private PostgreSQL and Redis (AOF everysec, like `helpstream up`) in a "
        "temporary directory instead",
    )
    group.add_argument("--partitions", type=int, default=8, help="HELPSTREAM_PARTITIONS")
    group.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra helpstream setting for the API/worker processes, e.g. "
        "--set worker_batch_entries=500 (repeatable)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, sample the server/worker with py-spy and print where time goes",
    )
    run.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    run.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="watchdog: abort (cleanly) after this long (default %(default)s)",
    )
    run.add_argument(
        "--keep-logs", action="store_true", help="keep the child processes' logs directory"
    )
    run.add_argument("--seed", type=int, default=2018, help="traffic generator seed")


def parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BenchError(f"--set wants NAME=VALUE, got {pair!r}")
        out[name.strip().upper().removeprefix("HELPSTREAM_")] = value
    return out
