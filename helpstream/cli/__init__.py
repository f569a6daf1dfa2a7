"""`helpstream` command line: up, api, worker, migrate, keys, demo, dlq (contract §1)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from helpstream.cli.common import settings_from
from helpstream.cli.errors import CliError
from helpstream.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    from helpstream.log_config import configure_logging
    from helpstream.logs import install_log_redaction

    install_log_redaction()
    args = build_parser().parse_args(argv)
    from helpstream.db.deployment import PartitionCountMismatch

    try:
        settings = settings_from(args)
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
