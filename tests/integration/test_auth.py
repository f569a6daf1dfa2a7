"""API keys, scopes, rate limits and CORS (contract §2), against the real server."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends

from helpstream.api.app import create_app
from helpstream.api.auth import PUBLIC_PATHS, require_scope
from helpstream.api.ratelimit import counter_key
from helpstream.api.routemap import iter_routes
from helpstream.keys import KEY_PATTERN, SCOPES, create_key
from helpstream.settings import Settings
from helpstream.streams import RedisClient, stream_key
from tests.conftest import bearer, serve
from tests.route_audit import route_scopes, unscoped_routes

pytestmark = pytest.mark.integration

# The contract's scope of every endpoint family (§2). A route whose path matches no row
# fails `test_every_route_is_public_or_scoped`: decide its scope and add a row.
SCOPE_BY_PREFIX: list[tuple[str, str]] = [
    ("/v1/clicks", "ingest"),
    ("/v1/support-events", "ingest"),
    ("/v1/paths", "read"),
    ("/v1/metrics", "read"),
    ("/v1/experiments", "read"),
    ("/v1/reports", "read"),
    ("/v1/admin", "admin"),
    ("/metrics", "read"),
    ("/v1/pages", "read"),
]
# Rows for one method only, checked before SCOPE_BY_PREFIX: (method, prefix, scope).
SCOPE_BY_METHOD_AND_PREFIX: list[tuple[str, str, str]] = [
    ("PUT", "/v1/pages", "admin"),
]


def _app_routes() -> list[Any]:
    """The app's routes; building the app connects to nothing."""
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))
    return app.routes


def _routes() -> list[Any]:
    """Every route with its effective path and dependencies."""
    return list(iter_routes(_app_routes()))


def _expected_scope(path: str, methods: set[str] | None = None) -> str | None:
    for method, prefix, scope in SCOPE_BY_METHOD_AND_PREFIX:
        if method in (methods or ()) and path.startswith(prefix):
            return scope
    return next((scope for prefix, scope in SCOPE_BY_PREFIX if path.startswith(prefix)), None)


SCOPED_OPERATIONS = [
    pytest.param(method, route.path, scope, id=f"{method} {route.path}")
    for route in _routes()
    for scope in route_scopes(route)
    for method in sorted(route.methods)
]


def test_every_route_is_public_or_scoped() -> None:
    """Fails for any endpoint that needs no key without being in PUBLIC_PATHS."""
    assert unscoped_routes(_app_routes()) == []
    routes = _routes()
    problems = []
    for route in routes:
        path = getattr(route, "path", "")
        scopes = route_scopes(route)
        if path in PUBLIC_PATHS:
            if scopes:
                problems.append(f"{path} is public but requires {scopes}")
            continue
        expected = _expected_scope(path, set(getattr(route, "methods", None) or ()))
        if expected is None:
            problems.append(f"{path}: no row in SCOPE_BY_PREFIX")
        elif scopes != {expected}:
            problems.append(f"{path} requires {scopes}, contract says {expected!r}")
    assert problems == []
    assert len(SCOPED_OPERATIONS) >= 6


def test_the_check_catches_routes_without_a_scope() -> None:
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))

    async def endpoint() -> dict[str, str]:
        return {}

    app.get("/v1/metrics/forgotten")(endpoint)
    router = APIRouter()
    router.get("/v1/reports/forgotten-too")(endpoint)
    app.include_router(router)
    app.get("/v1/metrics/declared", dependencies=[Depends(require_scope("read"))])(endpoint)
    assert unscoped_routes(app.routes) == [
        "['GET'] /v1/metrics/forgotten",
        "['GET'] /v1/reports/forgotten-too",
    ]


def _url(path: str) -> str:
    """A concrete URL for a route path: every path parameter gets an ID that does not exist."""
    return re.sub(r"\{[^}]+\}", "999999", path)


async def _status(
    client: httpx.AsyncClient, method: str, path: str, key: str | None
) -> tuple[int, httpx.Headers, Any]:
    """Send a harmless request (an empty JSON object for writes) without reading a stream."""
    headers = bearer(key) if key is not None else {"Authorization": ""}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    async with client.stream(method, _url(path), json=body, headers=headers) as response:
        payload = None
        if response.headers.get("content-type", "").startswith("application/json"):
            payload = (await response.aread()) and response.json()
        return response.status_code, response.headers, payload


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED_OPERATIONS)
async def test_scope_matrix(
    api: httpx.AsyncClient, api_keys: dict[str, str], method: str, path: str, scope: str
) -> None:
    unknown = "hs_0123456789ab_" + "A" * 43
    for key, what in ((None, "no key"), ("not-a-key", "garbage"), (unknown, "unknown key")):
        status, headers, body = await _status(api, method, path, key)
        assert status == 401, what
        assert headers["www-authenticate"] == "Bearer"
        assert isinstance(body["detail"], str)
    for key_scope in SCOPES:
        status, _, body = await _status(api, method, path, api_keys[key_scope])
        if key_scope in (scope, "admin"):
            assert status not in (401, 403), (key_scope, status, body)
            assert status < 500, (key_scope, status, body)
        else:
            assert status == 403, (key_scope, status, body)
            assert body == {"detail": f"this API key lacks the {scope!r} scope"}


async def test_public_routes_need_no_key_and_docs_offer_bearer_auth(
    api: httpx.AsyncClient,
) -> None:
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert (await api.get(path, headers={"Authorization": ""})).status_code == 200, path
    schema = (await api.get("/openapi.json", headers={"Authorization": ""})).json()
    schemes = schema["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            secured = bool(operation.get("security"))
            assert secured == (path not in PUBLIC_PATHS), (method, path)
            if secured:
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


async def test_admin_endpoints_create_list_and_revoke_keys(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    created = await api.post("/v1/admin/keys", json={"scope": "read", "name": "dashboard"})
    assert created.status_code == 201
    key = created.json()
    assert KEY_PATTERN.fullmatch(key["key"])
    assert key["scope"] == "read" and key["name"] == "dashboard" and key["revoked_at"] is None
    secret = key["key"]

    assert (await api.get("/v1/paths", headers=bearer(secret))).status_code == 200
    listed = (await api.get("/v1/admin/keys")).json()
    assert secret not in str(listed)
    assert {k["id"] for k in listed} >= {key["id"]}
    # Only the hash is stored.
    stored = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", key["id"])
    assert secret.encode() not in bytes(stored["key_hash"])
    assert secret not in str(dict(stored))

    revoked = await api.delete(f"/v1/admin/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    # Revoked through this process: effective at once, whatever the cache period.
    response = await api.get("/v1/paths", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json() == {"detail": "unknown or revoked API key"}
    again = await api.delete(f"/v1/admin/keys/{key['id']}")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert (await api.delete("/v1/admin/keys/424242")).status_code == 404
    bad = await api.post("/v1/admin/keys", json={"scope": "root"})
    assert bad.status_code == 422


async def test_revocation_elsewhere_takes_effect_within_the_cache_period(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    quick = settings.model_copy(update={"key_cache_seconds": 1.0})
    key = await create_key(pool, "read", "to revoke")
    async with serve(quick) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/v1/paths", headers=bearer(key.key))).status_code == 200
        # Revoked by another process (the CLI, another API instance): only the database knows.
        await pool.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key.id)
        revoked_at = time.monotonic()
        while (await client.get("/v1/paths", headers=bearer(key.key))).status_code == 200:
            assert time.monotonic() - revoked_at < 3, "revocation not seen within 3 s"
            await asyncio.sleep(0.05)
        assert time.monotonic() - revoked_at <= quick.key_cache_seconds + 0.5
        # last_used_at was recorded off the request path, within about one period.
        for _ in range(60):
            if await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key.id):
                break
            await asyncio.sleep(0.05)
        assert await pool.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key.id)


async def _cli(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {**os.environ, "HELPSTREAM_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "helpstream.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_a_key_once_accepted_does_not_vouch_for_its_prefix(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """The cache remembers tokens that matched, whole: the same prefix with another
    secret is still checked against the hash, on the fast path and the routes alike."""
    key = (await create_key(pool, "admin", "remembered")).key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    click = {"timestamp": 1_600_000_000, "customer_id": 1, "source_page_id": 1, "target_page_id": 2}
    for _ in range(2):  # the second time from the cache
        assert (await api.post("/v1/clicks", json=click, headers=bearer(key))).status_code == 202
        assert (await api.get("/v1/paths", headers=bearer(key))).status_code == 200
        assert (await api.post("/v1/clicks", json=click, headers=bearer(forged))).status_code == 401
        assert (await api.get("/v1/paths", headers=bearer(forged))).status_code == 401


async def test_cli_creates_lists_and_revokes_keys(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    assert settings.database_url
    code, out, err = await _cli(
        "keys", "create", "--scope", "read", "--name", "ci", database_url=settings.database_url
    )
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    assert KEY_PATTERN.fullmatch(key), out
    assert key not in err  # the key goes to stdout only, never to the logs

    assert (await api.get("/v1/paths", headers=bearer(key))).status_code == 200
    assert (await api.post("/v1/clicks", json={}, headers=bearer(key))).status_code == 403

    code, out, err = await _cli("keys", "list", database_url=settings.database_url)
    assert code == 0, err
    prefix = KEY_PATTERN.fullmatch(key)[1]  # type: ignore[index]
    assert prefix in out and key not in out
    key_id = await pool.fetchval("SELECT id FROM api_keys WHERE prefix = $1", prefix)

    code, out, err = await _cli("keys", "revoke", str(key_id), database_url=settings.database_url)
    assert code == 0, err
    assert await pool.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1", key_id)
    code, _, err = await _cli("keys", "revoke", "987654", database_url=settings.database_url)
    assert code == 1 and "no API key" in err
    code, _, err = await _cli(
        "keys", "create", "--scope", "root", database_url=settings.database_url
    )
    assert code == 2


async def test_rate_limit_answers_429_with_retry_after(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    tiny = settings.model_copy(update={"rate_limit_read": 3, "rate_limit_ingest": 3})
    first = await create_key(pool, "read", "busy")
    second = await create_key(pool, "read", "quiet")
    async with serve(tiny) as url, httpx.AsyncClient(base_url=url) as client:
        responses = [await client.get("/v1/paths", headers=bearer(first.key)) for _ in range(12)]
        statuses = [r.status_code for r in responses]
        assert set(statuses) == {200, 429}
        assert statuses.count(200) <= 2 * 3  # 12 requests span at most two 1-s windows
        limited = next(r for r in responses if r.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json() == {"detail": "rate limit exceeded for this API key; retry later"}
        # Per key: another key is not affected.
        assert (await client.get("/v1/paths", headers=bearer(second.key))).status_code == 200
        # And the window passes.
        await asyncio.sleep(int(limited.headers["retry-after"]) + 0.1)
        assert (await client.get("/v1/paths", headers=bearer(first.key))).status_code == 200
        await asyncio.sleep(0.2)
        assert await redis.keys("hs:{rl}:*")


async def test_rate_limit_is_shared_through_redis(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    """Other processes' requests count: pretend they used up the next seconds' budget."""
    limited = settings.model_copy(update={"rate_limit_read": 5})
    key = await create_key(pool, "read", "shared")
    now = int(time.time())
    for second in range(now, now + 5):
        await redis.set(counter_key(key.id, "read", second), 1000, ex=10)
    async with serve(limited) as url, httpx.AsyncClient(base_url=url) as client:
        statuses = []
        for _ in range(6):  # fewer than 5 per window from this process alone
            statuses.append((await client.get("/v1/paths", headers=bearer(key.key))).status_code)
            await asyncio.sleep(0.12)
    assert 429 in statuses


async def test_cors_is_off_by_default_and_allows_configured_origins(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    preflight = {
        "Origin": "https://dash.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    response = await api.options("/v1/paths", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    response = await api.get("/v1/paths", headers={"Origin": "https://dash.example"})
    assert "access-control-allow-origin" not in response.headers

    configured = settings.model_copy(
        update={"cors_origins": "https://dash.example, https://other.example"}
    )
    async with serve(configured) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.options("/v1/paths", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://dash.example"
        evil = await client.options(
            "/v1/paths", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert evil.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_click_posts_from_a_browser_get_the_cors_headers(
    settings: Settings, api_keys: dict[str, str], redis: RedisClient
) -> None:
    """The click fast path runs outside the CORS middleware: it must leave a request with an
    Origin header to it, so a page's own POST gets the headers (and is still stored)."""
    configured = settings.model_copy(update={"cors_origins": "https://dash.example"})
    click = {
        "timestamp": int(time.time()),
        "customer_id": 5,
        "source_page_id": 1,
        "target_page_id": 2,
    }
    async with serve(configured) as url, httpx.AsyncClient(base_url=url) as client:
        headers = {**bearer(api_keys["ingest"]), "Origin": "https://dash.example"}
        response = await client.post("/v1/clicks", json=click, headers=headers)
        assert response.status_code == 202, response.text
        assert response.headers["access-control-allow-origin"] == "https://dash.example"
        plain = await client.post("/v1/clicks", json=click, headers=bearer(api_keys["ingest"]))
        assert plain.status_code == 202
        assert "access-control-allow-origin" not in plain.headers
    entries = 0
    for partition in range(settings.partitions):
        entries += await redis.xlen(stream_key(partition, "clicks"))
    assert entries == 2
