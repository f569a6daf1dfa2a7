"""The FastAPI application: `create_app(settings)` and the resources its lifespan owns."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import Guard, scoped
from api.body_limit import BodySizeLimit
from api.deps import Resources
from api.errors import install_error_handlers
from api.fast_ingest import FastClickIngest
from api.ingest import BacklogMonitor, StreamWriter
from api.models import ClickBatchIn, ClickIn
from api.models_support import SupportBatchIn, SupportEventIn
from api.openapi import install_openapi
from api.redact import install_log_redaction
from api.routes import (
    clicks,
    dashboard,
    health,
    keys,
    paths,
    prometheus,
    reports,
    stream,
    support,
)
from api.routes.keys import KeyCreate
from api.settings import Settings
from db.connections import create_pool
from db.migrate import migrate
from workers.streams import connect_redis, redis_options

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


def create_app(settings: Settings) -> FastAPI:
    """Build the API for ``settings``; connections are opened when the app starts."""
    database_url, redis_url = settings.require_urls()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        pool = await create_pool(settings, database_url, f"helpstream-api pid={os.getpid()}")
        redis = connect_redis(redis_url, settings.redis_cluster, **redis_options(settings))
        writer = StreamWriter(redis)
        backlog = BacklogMonitor(redis, settings.partitions, settings.max_backlog)
        guard = Guard(settings, pool, redis)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            writer.start()
            backlog.start()
            guard.start()
            yield {
                "resources": Resources(settings, pool, redis, writer, backlog),
                "auth": guard,
            }
        finally:
            await guard.stop()
            await backlog.stop()
            await writer.stop()
            await redis.aclose()
            try:  # a connection still held by a cancelled request must not block exit
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    app = FastAPI(
        title="helpstream",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_log_redaction()
    # Innermost first: the click fast path runs inside the body limit (and CORS).
    app.add_middleware(FastClickIngest)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origin_list():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list(),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    install_error_handlers(app)
    install_openapi(app, [ClickIn, ClickBatchIn, SupportEventIn, SupportBatchIn, KeyCreate])

    # Every router but health's is behind a scope (tests/integration/test_auth.py fails
    # for any route that is neither in api.auth.PUBLIC_PATHS nor scoped).
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(clicks.router, **scoped("ingest"))
    app.include_router(paths.router, **scoped("read"))
    app.include_router(stream.router, **scoped("read"))
    app.include_router(support.router, **scoped("ingest"))
    app.include_router(reports.router, **scoped("read"))
    app.include_router(prometheus.router, **scoped("read"))
    app.include_router(keys.router, **scoped("admin"))
    return app
