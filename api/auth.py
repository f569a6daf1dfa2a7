"""API keys and scopes (contract §2): `Authorization: Bearer hs_<prefix>_<secret>`.

* Keys are 256-bit random secrets, shown once; PostgreSQL keeps only their SHA-256 and the
  random `prefix`, which finds the row without comparing against every hash. Hashes are
  compared with `hmac.compare_digest`.
* Checks cost no database round trip per request: `KeyCache` remembers each prefix's row
  (or its absence) for `key_cache_seconds`, so a revocation takes effect within that time
  in every process (at once in the process that revoked). `last_used_at` is collected in
  memory and written in one statement per cache period, off the request path.
* Every route declares its scope with a dependency (`require_scope`), normally for a
  whole router at `include_router` time (`**scoped("read")`). `route_scopes` reads the
  declarations back so a test can fail for any route that has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import asyncpg
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute

from api.errors import ServiceUnavailable
from api.ratelimit import RateLimiter
from api.routemap import iter_routes
from api.settings import Settings
from workers.streams import RedisClient

log = logging.getLogger(__name__)

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

# Routes that need no key. Everything else must declare a scope (see `route_scopes`).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/dashboard",
    }
)

KEY_PATTERN = re.compile(r"hs_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def generate_key() -> tuple[str, str]:
    """A new key and its lookup prefix: `hs_` + 48 random bits + `_` + 256 random bits."""
    prefix = secrets.token_hex(6)
    return prefix, f"hs_{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyOut(BaseModel):
    """An API key as listed: never the secret, which only its creator ever sees."""

    id: int
    name: str
    scope: Scope
    prefix: str = Field(description="The public part of the key (`hs_<prefix>_...`).")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Approximate: recorded at most once per key cache period."
    )
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The API key. Shown only in this response: store it now.")


_KEY_COLUMNS = "id, name, scope, prefix, created_at, last_used_at, revoked_at"


async def create_key(db: Any, scope: Scope, name: str = "") -> KeyCreated:
    """Store a new key (`db`: an asyncpg pool or connection); returns it with its secret."""
    prefix, key = generate_key()
    row = await db.fetchrow(
        f"INSERT INTO api_keys (name, scope, prefix, key_hash) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_KEY_COLUMNS}",
        name,
        scope,
        prefix,
        hash_key(key),
    )
    return KeyCreated(**dict(row), key=key)


async def list_keys(db: Any) -> list[KeyOut]:
    rows = await db.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")
    return [KeyOut(**dict(r)) for r in rows]


async def revoke_key(db: Any, key_id: int) -> KeyOut | None:
    """Revoke a key (idempotent: the first revocation time is kept); None if unknown."""
    if not 1 <= key_id <= 2**63 - 1:
        return None
    row = await db.fetchrow(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
        f" RETURNING {_KEY_COLUMNS}",
        key_id,
    )
    return KeyOut(**dict(row)) if row is not None else None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An active key as the request path sees it."""

    id: int
    scope: Scope
    prefix: str
    key_hash: bytes

    def allows(self, scope: Scope) -> bool:
        return self.scope == scope or self.scope == "admin"


class KeyCache:
    """Prefix → active key (or None), each entry trusted for `ttl` seconds."""

    def __init__(self, pool: asyncpg.Pool, ttl: float, max_entries: int = 10_000) -> None:
        self.pool = pool
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._loading: dict[str, asyncio.Future[ApiKey | None]] = {}
        self._used: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        # A flood of made-up keys may not take the pool's connections from real requests.
        self._lookups = asyncio.Semaphore(2)

    async def authenticate(self, token: str) -> ApiKey | None:
        """The active key `token` names, or None; no database call while cached."""
        match = KEY_PATTERN.fullmatch(token)
        if match is None:
            return None
        prefix = match[1]
        entry = self._entries.get(prefix)
        if entry is not None and entry[0] > time.monotonic():
            key = entry[1]
        else:
            key = await self._load(prefix, stale=entry)
        if key is None or not hmac.compare_digest(key.key_hash, hash_key(token)):
            return None
        self._used[key.id] = time.time()
        return key

    def invalidate(self, prefix: str | None = None) -> None:
        """Forget one prefix (or all), e.g. right after revoking in this process."""
        if prefix is None:
            self._entries.clear()
        else:
            self._entries.pop(prefix, None)

    async def _load(self, prefix: str, stale: tuple[float, ApiKey | None] | None) -> ApiKey | None:
        """One query per prefix at a time, however many requests wait for it."""
        loading = self._loading.get(prefix)
        if loading is None:
            loading = asyncio.ensure_future(self._fetch_and_remember(prefix, stale))
            self._loading[prefix] = loading
            loading.add_done_callback(lambda _: self._loading.pop(prefix, None))
        # Shielded: a client that disconnects does not cancel the lookup others await.
        return await asyncio.shield(loading)

    async def _fetch_and_remember(
        self, prefix: str, stale: tuple[float, ApiKey | None] | None
    ) -> ApiKey | None:
        try:
            key = await self._fetch(prefix)
        except Exception as exc:
            log.warning("API key lookup failed: %r", exc)
            if stale is None:
                raise ServiceUnavailable("cannot verify the API key now; retry later", 2) from None
            # PostgreSQL unreachable: keep trusting what we knew (ingest needs only Redis)
            # and ask again after another period.
            key = stale[1]
        self._remember(prefix, key)
        return key

    async def _fetch(self, prefix: str) -> ApiKey | None:
        async with self._lookups, asyncio.timeout(2.0):
            row = await self.pool.fetchrow(
                "SELECT id, scope, prefix, key_hash FROM api_keys"
                " WHERE prefix = $1 AND revoked_at IS NULL",
                prefix,
            )
        if row is None:
            return None
        return ApiKey(row["id"], row["scope"], row["prefix"], bytes(row["key_hash"]))

    def _remember(self, prefix: str, key: ApiKey | None) -> None:
        now = time.monotonic()
        if len(self._entries) >= self.max_entries:
            # Bounded memory under a flood of made-up keys: drop expired entries first,
            # then the oldest quarter.
            self._entries = {p: e for p, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 4]:
                    del self._entries[old]
        self._entries[prefix] = (now + self.ttl, key)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="key-last-used")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush_last_used()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(self.ttl, 1.0))
            try:
                await self.flush_last_used()
            except Exception as exc:  # best effort: a later flush carries newer times
                log.warning("recording API key use failed: %r", exc)

    async def flush_last_used(self) -> None:
        used, self._used = self._used, {}
        if not used:
            return
        async with asyncio.timeout(5.0):
            await self.pool.execute(
                "UPDATE api_keys AS k SET last_used_at = u.t"
                " FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, t)"
                " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.t)",
                list(used),
                [datetime.fromtimestamp(t, UTC) for t in used.values()],
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
        guard: Guard = request.state.auth
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


IngestKey = Annotated[ApiKey, Depends(require_scope("ingest"))]
ReadKey = Annotated[ApiKey, Depends(require_scope("read"))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]


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


def route_scopes(route: Any) -> set[Scope]:
    """The scopes a route's dependencies require (empty: the route is open)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return set()
    found: set[Scope] = set()
    stack = list(dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, ScopeCheck):
            found.add(dependant.call.scope)
        stack.extend(dependant.dependencies)
    return found


def unscoped_routes(routes: Sequence[BaseRoute]) -> list[str]:
    """Routes that are neither public nor behind a scope: each one is a hole."""
    holes = []
    for route in iter_routes(routes):
        path = getattr(route, "path", None) or repr(route)
        if path not in PUBLIC_PATHS and not route_scopes(route):
            holes.append(f"{sorted(getattr(route, 'methods', None) or [])} {path}")
    return holes
