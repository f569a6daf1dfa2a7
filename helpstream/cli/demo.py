"""`helpstream demo`: load the demo through the API of a running helpstream."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from helpstream.cli.common import database_url_for, settings_from
from helpstream.settings import Settings

log = logging.getLogger("helpstream")


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo help desk and clickstream into a running helpstream, over HTTP."""
    import httpx

    from helpstream.demo import DemoError, load

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request: noise here
    settings = settings_from(args)
    url = args.url or f"http://{settings.host}:{settings.port}"
    with demo_key(settings, args.api_key or os.environ.get("HELPSTREAM_API_KEY")) as api_key:
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
def demo_key(settings: Settings, given: str | None) -> Iterator[str]:
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
