"""Typed access to the resources the app's lifespan owns, as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from api.ingest import BacklogMonitor, StreamWriter
from api.settings import Settings
from workers.streams import RedisClient


@dataclass(slots=True)
class Resources:
    """Everything a request handler may need, created and closed by the lifespan."""

    settings: Settings
    pool: asyncpg.Pool
    redis: RedisClient
    writer: StreamWriter
    backlog: BacklogMonitor


async def get_resources(request: Request) -> Resources:
    """Async on purpose: FastAPI runs plain-function dependencies in a thread pool."""
    resources: Resources = request.state.resources
    return resources


Deps = Annotated[Resources, Depends(get_resources)]
