"""Liveness and readiness probes (no key needed)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from helpstream.api.deps import Pool, Redis

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Redis and PostgreSQL are reachable",
    responses={503: {"description": "A dependency is unreachable"}},
)
async def readyz(pool: Pool, redis: Redis) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unreachable"
    try:
        async with asyncio.timeout(2):
            await pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception:
        checks["postgres"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)
