"""The FastAPI application: `create_app(settings)` and the resources its lifespan owns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from api.body_limit import BodySizeLimit
from api.deps import Resources
from api.errors import install_error_handlers
from api.ingest import BacklogMonitor, StreamWriter
from api.models import ClickBatchIn, ClickIn
from api.openapi import install_openapi
from api.routes import clicks, health, paths
from api.settings import Settings
from db.migrate import migrate
from workers.streams import connect_redis, ensure_groups

DESCRIPTION = """
helpstream measures how customers move through a self-service support site.

* Web servers **POST click events**; they are buffered in Redis Streams (a 202 means
  durably buffered) and sessionized into **paths** by workers.
* Dashboards **GET paths and metrics**: path length mean and variance of resolved paths,
  resolution and turnaround rates, and pages with an unexpected rate of turnarounds.

Errors use FastAPI's shape: `{"detail": ...}`; validation errors list each bad field with
its location (`["body", "events", 3, "timestamp"]`).
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the API for ``settings``; connections are opened when the app starts."""
    database_url, redis_url = settings.require_urls()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Resources]]:
        pool = await asyncpg.create_pool(
            database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis = connect_redis(redis_url, settings.redis_cluster)
        writer = StreamWriter(redis)
        backlog = BacklogMonitor(redis, settings.partitions, settings.max_backlog)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            await ensure_groups(redis, settings.partitions)
            writer.start()
            backlog.start()
            yield {"resources": Resources(settings, pool, redis, writer, backlog)}
        finally:
            await backlog.stop()
            await writer.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        title="helpstream",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    install_openapi(app, [ClickIn, ClickBatchIn])

    app.include_router(health.router)
    app.include_router(clicks.router)
    app.include_router(paths.router)
    return app
