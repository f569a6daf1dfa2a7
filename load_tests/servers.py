"""Servers the ingest benchmarks compare helpstream with, and a launcher for all of them.

* `bare`: a trivial ASGI app that reads the body and answers 202 `{"accepted": 1}`: the
  ceiling uvicorn itself sets on this machine (the ratio's denominator).
* `noio`: FastAPI with the real click routes' parsing and stream encoding (pydantic
  validation, `to_wire`, orjson) but no auth, no Redis: splits the app's cost into
  "framework + validation" and "auth + rate limit + Redis round trip".
* `app`: the real `create_app(Settings())`, for loop/http combinations other than the
  "auto" that `helpstream api` uses (the benchmarks run `helpstream api` itself for "auto").

All run with `helpstream api`'s uvicorn settings (see `helpstream.cli.cmd_api`): one process,
log_level "info", no access log; `--loop` / `--http` default to "auto" like it
(uvloop + httptools when installed). `--server granian` serves the same app with granian
(one worker, one runtime thread, ASGI interface) instead, to measure what a Rust HTTP
server would buy (`pip install granian`; it is not a helpstream dependency).

    python -m load_tests.servers bare --port 8001 [--loop asyncio --http h11] [--server granian]
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import FastAPI, Request, status
from starlette.types import Message, Receive, Scope, Send

ACCEPTED = b'{"accepted":1}'
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(ACCEPTED)).encode()),
]


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """202 for every request, after reading its whole body (as a real endpoint must)."""
    if scope["type"] == "lifespan":
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body", False))
    if scope["path"] == "/readyz":
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    else:
        await send({"type": "http.response.start", "status": 202, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": ACCEPTED})


def noio_app() -> Any:
    """The click routes' request handling up to (not including) auth and Redis."""
    # (FastAPI resolves the handlers' annotations in this module's globals: Request is
    # imported at module level.)
    from helpstream.api.bodies import parse_body
    from helpstream.api.models import Accepted, ClickBatchIn, ClickIn
    from helpstream.api.routes.clicks import to_wire
    from helpstream.wire import encode_events

    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v1/clicks", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
    async def post_click(request: Request) -> Accepted:
        click = await parse_body(request, ClickIn)
        encode_events([to_wire(click)])
        return Accepted(accepted=1)

    @app.post("/v1/clicks/batch", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
    async def post_batch(request: Request) -> Accepted:
        batch = await parse_body(request, ClickBatchIn)
        encode_events([to_wire(c) for c in batch.events])
        return Accepted(accepted=len(batch.events))

    return app


def real_app() -> Any:
    from helpstream.api.app import create_app
    from helpstream.settings import Settings

    return create_app(Settings())


def bare_factory() -> Any:
    return bare_app


# Each server by name, as a factory: uvicorn is given the app, granian the factory's name.
FACTORIES: dict[str, Any] = {"bare": bare_factory, "noio": noio_app, "app": real_app}


def serve_with_granian(which: str, host: str, port: int) -> None:
    """granian imports its target by name (in its worker process) and calls it."""
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        f"load_tests.servers:{FACTORIES[which].__name__}",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        factory=True,
        log_access=False,
    ).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=["bare", "noio", "app"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "granian"])
    args = parser.parse_args()

    import logging
    import os

    import uvicorn

    if args.which == "app":  # as `helpstream` does in helpstream.cli.main
        from helpstream.logs import install_log_redaction

        install_log_redaction()
        logging.basicConfig(level=os.environ.get("HELPSTREAM_LOG_LEVEL", "INFO"))
    if args.server == "granian":
        serve_with_granian(args.which, args.host, args.port)
        return
    app: Any = FACTORIES[args.which]()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop=args.loop,
        http=args.http,
        log_level="info",
        access_log=False,
    )


if __name__ == "__main__":
    main()
