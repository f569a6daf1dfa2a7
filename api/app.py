"""The FastAPI application: `create_app(settings)` and the resources its lifespan owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from helpstream import __version__
from helpstream.api.auth import Guard, scoped
from helpstream.api.body_limit import BodySizeLimit
from helpstream.api.buffering import EventBuffer
from helpstream.api.deps import State
from helpstream.api.docs import install_docs, operation_id
from helpstream.api.errors import install_error_handlers
from helpstream.api.fast_ingest import FastClickIngest
from helpstream.api.http_metrics import ApiMetrics, HttpMetrics
from helpstream.api.models import ClickBatchIn, ClickIn
from helpstream.api.models_support import SupportBatchIn, SupportEventIn
from helpstream.api.openapi import install_openapi
from helpstream.api.routes import (
    clicks,
    dashboard,
    distribution,
    experiments,
    health,
    keys,
    pages,
    paths,
    prometheus,
    reports,
    stream,
    support,
)
from helpstream.api.routes.keys import KeyCreate
from helpstream.api.routes.pages import PageIn
from helpstream.database import create_pool
from helpstream.logs import install_log_redaction
from helpstream.retry import open_redis
from helpstream.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """
helpstream measures how customers move through a self-service support site.

* Web servers **POST click events**; they are buffered in Redis Streams (a 202 means
  durably buffered) and sessionized into **paths** by workers.
* Dashboards **GET paths and metrics**: path length mean and variance of resolved paths,
  resolution and turnaround rates, and pages with an unexpected rate of turnarounds.
* Help desks **POST ticket events** (tickets, messages, status, ratings; any order, any
  number of times) and dashboards **GET the ticket reports** under `/v1/reports/`.

Errors use FastAPI's shape: `{"detail": ...}`; validation errors list each bad field with
its location (`["body", "events", 3, "timestamp"]`).

**Auth.** Every `/v1` endpoint needs `Authorization: Bearer <key>` (the *Authorize* button)
with its scope: `ingest` (POST events), `read` (GET paths, metrics, reports) or `admin`
(everything, and the keys at `/v1/admin/keys`). Keys come from
`helpstream keys create --scope ingest|read|admin`. No, unknown or revoked key: 401; wrong
scope: 403; over the key's rate limit: 429 with `Retry-After`.
"""


class HelpstreamAPI(FastAPI):
    """FastAPI, with the click POSTs going to `FastClickIngest` before anything else.

    Even as the outermost user middleware the fast path sat inside the layers FastAPI and
    Starlette always add (server errors, telemetry, body limits, ~8 % of a click request,
    measured); here it is in front of them, and hands everything else to FastAPI.
    """

    fast_path: FastClickIngest | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and scope["type"] == "http":
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _within(step: Awaitable[None], what: str, seconds: float = 5.0) -> None:
    try:
        await asyncio.wait_for(step, timeout=seconds)
    except TimeoutError:
        log.warning("shutting down: %s did not stop within %.0f s; going on", what, seconds)


def create_app(settings: Settings) -> HelpstreamAPI:
    """Build the API for ``settings``; connections are opened when the app starts."""
    database_url, redis_url = settings.require_urls()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        pool = await create_pool(database_url, settings, "api")
        redis = await open_redis(redis_url, settings)
        buffer = EventBuffer(settings, redis)
        guard = Guard(settings, pool, redis)
        try:
            buffer.start()
            guard.start()
            yield State(settings=settings, pool=pool, redis=redis, buffer=buffer, guard=guard)
        finally:
            # Each step bounded: a stuck close (a query waiting on a lock, a socket that
            # never finishes closing) must not keep the process from exiting.
            await _within(guard.stop(), "the key cache and rate limiter")
            await _within(buffer.stop(), "the stream writer")
            await _within(redis.aclose(), "the Redis client")
            try:  # a connection still held by a cancelled request must not block exit
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    app = HelpstreamAPI(
        title="helpstream",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from the installed package (no CDN)
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    install_docs(app)
    install_log_redaction()
    # Innermost first.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origin_list():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list(),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.state.api_metrics = ApiMetrics()
    app.add_middleware(HttpMetrics, metrics=app.state.api_metrics)  # times all it passes on
    # In front of all of it: the click fast path, which keeps the layers' promises itself.
    app.fast_path = FastClickIngest(
        partial(FastAPI.__call__, app),
        max_body_bytes=settings.max_body_bytes,
        metrics=app.state.api_metrics,
        cors=bool(settings.cors_origin_list()),
    )
    install_error_handlers(app)
    install_openapi(app, [ClickIn, ClickBatchIn, SupportEventIn, SupportBatchIn, KeyCreate, PageIn])

    # Every router but health's is behind a scope (tests/integration/test_auth.py fails
    # for any route that is neither in helpstream.api.auth.PUBLIC_PATHS nor scoped).
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(clicks.router, **scoped("ingest"))
    app.include_router(paths.router, **scoped("read"))
    app.include_router(experiments.router, **scoped("read"))
    app.include_router(distribution.router, **scoped("read"))
    app.include_router(stream.router, **scoped("read"))
    app.include_router(support.router, **scoped("ingest"))
    app.include_router(reports.router, **scoped("read"))
    app.include_router(prometheus.router, **scoped("read"))
    app.include_router(keys.router, **scoped("admin"))
    app.include_router(pages.router, **scoped("read"))
    app.include_router(pages.admin_router, **scoped("admin"))
    return app
