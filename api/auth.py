"""Scopes (contract §2): who may call what, as FastAPI dependencies and OpenAPI responses.

Every route declares its scope with a dependency (`require_scope`), normally for a whole
router at `include_router` time (`**scoped("read")`); `tests/route_audit.py` reads the
declarations back so a test fails for any route that has none. Order of the checks:
401 (no/unknown/revoked key) → 403 (wrong scope) → 429 (over the key's rate limit).
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from helpstream.api.key_cache import KeyCache
from helpstream.api.ratelimit import RateLimiter
from helpstream.keys import SCOPES, ApiKey, Scope
from helpstream.settings import Settings
from helpstream.streams import RedisClient

# Routes that need no key. Everything else must declare a scope.
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/docs",
        "/docs/oauth2-redirect",
        "/docs/assets",
        "/redoc",
        "/openapi.json",
        "/dashboard",
    }
)


class Guard:
    """What the scope dependency needs at request time; owned by the app's lifespan."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: RedisClient) -> None:
        self.keys = KeyCache(pool, settings.key_cache_seconds)
        self.limiter = RateLimiter(
            redis,
            {
                "ingest": settings.rate_limit_ingest,
                "read": settings.rate_limit_read,
                "admin": settings.rate_limit_admin,
            },
        )

    def start(self) -> None:
        self.keys.start()
        self.limiter.start()

    async def stop(self) -> None:
        await self.limiter.stop()
        await self.keys.stop()


async def _guard(request: Request) -> Guard:
    guard: Guard = request.state.guard
    return guard


KeyGuard = Annotated[Guard, Depends(_guard)]
"""The key cache and rate limiter, for routes that manage keys."""

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="hs_<prefix>_<secret>",
    description="An API key from `helpstream keys create` or `POST /v1/admin/keys`.",
)

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
RATE_LIMITED = "rate limit exceeded for this API key; retry later"


class ScopeCheck:
    """Dependency: a valid key with `scope` (admin satisfies all), within its rate limit.

    Order: 401 (no/unknown/revoked key) → 403 (wrong scope) → 429 (over the limit of
    this route's scope class for this key).
    """

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __repr__(self) -> str:
        return f"require_scope({self.scope!r})"

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> ApiKey:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send Authorization: Bearer <key>",
                headers=_UNAUTHORIZED_HEADERS,
            )
        guard: Guard = request.state.guard
        key = await guard.keys.authenticate(credentials.credentials)
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API key",
                headers=_UNAUTHORIZED_HEADERS,
            )
        if not key.allows(self.scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this API key lacks the {self.scope!r} scope"
            )
        retry_after = guard.limiter.hit(key.id, self.scope)
        if retry_after is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                RATE_LIMITED,
                headers={"Retry-After": str(retry_after)},
            )
        return key


_CHECKS = {scope: ScopeCheck(scope) for scope in SCOPES}


def require_scope(scope: Scope) -> ScopeCheck:
    return _CHECKS[scope]


class ErrorOut(BaseModel):
    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorOut,
        "description": "Missing, unknown or revoked API key",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    403: {"model": ErrorOut, "description": "The API key lacks this route's scope"},
    429: {
        "model": ErrorOut,
        "description": "Rate limit of this API key exceeded (see Retry-After)",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
    503: {
        "model": ErrorOut,
        "description": "A dependency is unavailable (see Retry-After)",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def scoped(scope: Scope) -> dict[str, Any]:
    """`include_router` arguments that put every route of a router behind `scope`."""
    return {"dependencies": [Depends(require_scope(scope))], "responses": AUTH_RESPONSES}
