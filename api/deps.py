"""The resources the app's lifespan owns, as typed state and small FastAPI dependencies.

`State` is what the lifespan yields; Starlette copies it into every request's
`request.state`. Each `Annotated` alias below hands a route exactly one of those resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypedDict

import asyncpg
from fastapi import Depends, Request

from helpstream.api.buffering import EventBuffer
from helpstream.settings import Settings
from helpstream.streams import RedisClient

if TYPE_CHECKING:
    from helpstream.api.auth import Guard


class State(TypedDict):
    """Lifespan state: opened when the app starts, closed when it stops."""

    settings: Settings
    pool: asyncpg.Pool
    redis: RedisClient
    buffer: EventBuffer
    guard: Guard


# Async on purpose: FastAPI runs plain-function dependencies in a thread pool.


async def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.state.pool
    return pool


async def _redis(request: Request) -> RedisClient:
    redis: RedisClient = request.state.redis
    return redis


async def _buffer(request: Request) -> EventBuffer:
    buffer: EventBuffer = request.state.buffer
    return buffer


AppSettings = Annotated[Settings, Depends(_settings)]
Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Redis = Annotated[RedisClient, Depends(_redis)]
Buffer = Annotated[EventBuffer, Depends(_buffer)]
