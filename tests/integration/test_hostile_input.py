"""Hostile input: every request below is answered 4xx (never 5xx), in the API's one error
format, and none of it reaches Redis or PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from helpstream.settings import Settings
from helpstream.streams import KINDS, RedisClient, dead_letter_key, stream_key
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

CLICK = {"timestamp": 1515764691, "customer_id": 1, "source_page_id": 11, "target_page_id": 28}
TICKET = {"type": "ticket.opened", "ticket_id": 1, "customer_id": 1, "timestamp": 1515764691}
TICKET["category"] = "Bug report"
MESSAGE = {
    "type": "message.sent",
    "message_id": 1,
    "ticket_id": 1,
    "sender_type": "customer",
    "sender_id": 1,
    "timestamp": 1515764691,
    "text": "hello",
}


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _with(base: dict[str, Any], **changes: Any) -> bytes:
    return _json({**base, **changes})


def _raw(base: dict[str, Any], field: str, literal: str) -> bytes:
    """`base` with one field's JSON text replaced verbatim (numbers orjson cannot write)."""
    text = _json({**base, field: "__X__"}).decode()
    return text.replace('"__X__"', literal).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


NOT_JSON: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("whitespace", b"  \n\t "),
    ("null", b"null"),
    ("a list", b"[]"),
    ("a string", b'"click"'),
    ("a number", b"1"),
    ("plain text", b"hello"),
    ("form encoded", b"timestamp=1&customer_id=1"),
    ("xml", b"<click timestamp='1'/>"),
    ("truncated", b'{"timestamp": 1515764691, "customer_id": '),
    ("trailing garbage", _json(CLICK) + b" x"),
    ("two documents", _json(CLICK) + _json(CLICK)),
    ("NaN", _raw(CLICK, "timestamp", "NaN")),
    ("Infinity", _raw(CLICK, "customer_id", "Infinity")),
    ("invalid UTF-8 body", b"\xff\xfe\xfd"),
    ("NUL bytes", b"\x00" * 64),
    ("deeply nested arrays", _nested(100_000)),
    ("deeply nested objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
]

BAD_CLICKS: list[tuple[str, bytes]] = [
    ("empty object", b"{}"),
    ("customer_id 10**30", _raw(CLICK, "customer_id", str(10**30))),
    ("customer_id 2**63", _raw(CLICK, "customer_id", str(2**63))),
    ("customer_id -1", _with(CLICK, customer_id=-1)),
    ("timestamp with 400 digits", _raw(CLICK, "timestamp", "9" * 400)),
    ("timestamp 1e400", _raw(CLICK, "timestamp", "1e400")),
    ("timestamp as a huge string", _with(CLICK, timestamp="9" * 5000)),
    ("timestamp year 10000", _with(CLICK, timestamp="10000-01-01T00:00:00Z")),
    ("timestamp not a date", _with(CLICK, timestamp="2018-13-45T99:99:99")),
    ("timestamp negative", _with(CLICK, timestamp=-1)),
    ("source_page_id fractional", _with(CLICK, source_page_id=1.5)),
    ("target_page_id 1e308", _raw(CLICK, "target_page_id", "1e308")),
    ("customer_id a string", _with(CLICK, customer_id="abc")),
    ("customer_id null", _with(CLICK, customer_id=None)),
    ("customer_id an object", _with(CLICK, customer_id={"$gt": 0})),
    ("customer_id a list", _with(CLICK, customer_id=[1])),
    ("customer_id deeply nested", _raw(CLICK, "customer_id", _nested(20_000).decode())),
    ("is_resolved an object", _with(CLICK, is_resolved={})),
    ("is_resolved 2", _with(CLICK, is_resolved=2)),
    ("event_id not a UUID", _with(CLICK, event_id="'; DROP TABLE clicks; --")),
    ("event_id a number", _with(CLICK, event_id=5)),
    ("variant empty", _with(CLICK, variant="")),
    ("variant too long", _with(CLICK, variant="a" * 65)),
    ("variant 1 MB", _with(CLICK, variant="a" * 1_000_000)),
    ("variant with NUL", _with(CLICK, variant="a\u0000b")),
    ("variant with a lone surrogate", _raw(CLICK, "variant", '"a\\ud800b"')),
    ("variant invalid UTF-8", _raw(CLICK, "variant", '"__Y__"').replace(b"__Y__", b"\xff\xfe")),
    ("variant markup", _with(CLICK, variant="<script>alert(1)</script>")),
    ("missing timestamp", _json({k: v for k, v in CLICK.items() if k != "timestamp"})),
]

BAD_BATCHES: list[tuple[str, bytes]] = [
    ("no events", _json({"events": []})),
    ("events null", _json({"events": None})),
    ("events an object", _json({"events": {"0": CLICK}})),
    ("a bare list", _json([CLICK])),
    (
        "one bad event among good ones",
        _json({"events": [CLICK, CLICK, {**CLICK, "customer_id": -1}]}),
    ),
    ("10,001 events", _json({"events": [CLICK] * 10_001})),
    ("nested events", _json({"events": [[CLICK]]})),
]

BAD_SUPPORT: list[tuple[str, bytes]] = [
    ("no type", _json({k: v for k, v in TICKET.items() if k != "type"})),
    ("unknown type", _with(TICKET, type="ticket.deleted")),
    ("type an object", _with(TICKET, type={"a": 1})),
    ("unknown category", _with(TICKET, category="Other")),
    ("ticket_id 2**64", _raw(TICKET, "ticket_id", str(2**64))),
    ("rating 6", _json({"type": "ticket.rated", "ticket_id": 1, "rating": 6, "timestamp": 1})),
    (
        "rating true",
        _json({"type": "ticket.rated", "ticket_id": 1, "rating": True, "timestamp": 1}),
    ),
    ("text with NUL", _with(MESSAGE, text="a\u0000b")),
    ("text with a lone surrogate", _raw(MESSAGE, "text", '"\\udfff"')),
    ("sender_type robot", _with(MESSAGE, sender_type="robot")),
    ("email 1 MB", _json({"type": "customer.upserted", "customer_id": 1, "email": "a" * 10**6})),
]

CASES: list[tuple[str, str, bytes]] = [
    *((path, name, body) for path in ("/v1/clicks", "/v1/clicks/batch") for name, body in NOT_JSON),
    *(("/v1/clicks", name, body) for name, body in BAD_CLICKS),
    *(("/v1/clicks/batch", name, body) for name, body in BAD_BATCHES),
    *(
        (
            "/v1/clicks/batch",
            f"batch: {name}",
            _json({"events": [CLICK]})[:-2] + b"," + body + b"]}",
        )
        for name, body in BAD_CLICKS
    ),
    *(("/v1/support-events", name, body) for name, body in (*NOT_JSON, *BAD_SUPPORT)),
    *(
        ("/v1/support-events/batch", name, _json({"events": [TICKET]})[:-2] + b"," + body + b"]}")
        for name, body in BAD_SUPPORT
    ),
    ("/v1/support-events/batch", "10,001 events", _json({"events": [TICKET] * 10_001})),
    ("/v1/admin/keys", "admin: deeply nested", _nested(100_000)),
    ("/v1/admin/keys", "admin: invalid UTF-8", b'{"scope": "read", "name": "\xff"}'),
    ("/v1/admin/keys", "admin: name 1 MB", _json({"scope": "read", "name": "n" * 10**6})),
    ("/v1/admin/keys", "admin: unknown field", _json({"scope": "admin", "key_hash": "00"})),
]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


BAD_QUERIES: list[tuple[str, dict[str, str]]] = [
    ("/v1/paths", {"customer_id": str(10**30)}),
    ("/v1/paths", {"customer_id": "-1"}),
    ("/v1/paths", {"limit": "abc"}),
    ("/v1/paths", {"limit": "0"}),
    ("/v1/paths", {"limit": "1000000"}),
    ("/v1/paths", {"status": "deleted"}),
    ("/v1/paths", {"variant": "a\u0000b"}),
    ("/v1/paths", {"cursor": "!!!not base64!!!"}),
    ("/v1/paths", {"cursor": _cursor([10**30, 0, 0])}),
    ("/v1/paths", {"cursor": _cursor([-(2**70), 0, 0])}),
    ("/v1/paths", {"cursor": _cursor([2**63, 0, 0])}),
    ("/v1/paths", {"cursor": _cursor([0, 0, 2**64 - 1])}),
    ("/v1/paths", {"cursor": _cursor([True, 0.5, None])}),
    ("/v1/paths", {"cursor": _cursor([1, 2])}),
    ("/v1/paths", {"cursor": _cursor({"a": 1})}),
    ("/v1/paths", {"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}),
    ("/v1/metrics/paths", {"since": "1e309"}),
    ("/v1/metrics/paths", {"since": str(2**64), "until": "-5"}),
    ("/v1/metrics/pages", {"limit": str(10**30)}),
    ("/v1/reports/resolution-time", {"from": "99999-99-99"}),
    ("/v1/reports/resolution-time", {"from": "2024-02-30"}),
    ("/v1/reports/resolution-time", {"category": "Other"}),
    ("/v1/reports/agents-per-ticket", {"from": "a" * 10_000}),
    ("/v1/reports/tickets-per-agent", {"to": "\u0000"}),
    ("/v1/admin/keys/" + str(2**64), {}),
    ("/v1/admin/keys/-1", {}),
    ("/v1/admin/keys/abc", {}),
]

EDGE_QUERIES: list[tuple[str, dict[str, str]]] = [
    # Valid but extreme: answered (2xx or 4xx), never 5xx.
    ("/v1/reports/resolution-time", {"from": "0001-01-01", "to": "9999-12-31"}),
    ("/v1/reports/resolution-time-by-month", {"to": "9999-12-31T23:59:59"}),
    ("/v1/reports/agent-ratings", {"from": "1970-01-01T00:00:00+14:00"}),
    ("/v1/metrics/paths", {"since": "0", "until": str(2**53)}),
    ("/v1/metrics/pages", {"since": str(2**53), "until": "0"}),
    ("/v1/paths", {"customer_id": str(2**63 - 1), "limit": "1000"}),
]

LEAKS = ("Traceback", 'File "', "asyncpg", "psycopg", "SELECT ", "INSERT ", "redis.", "api.")


def _assert_clean_error(response: httpx.Response, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), what
    body = response.json()
    assert set(body) == {"detail"}, what
    for leak in LEAKS:
        assert leak not in response.text, (what, leak, response.text[:500])


@pytest.fixture
async def clean_state_afterwards(
    worker: WorkerHandle, redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[None]:
    """After the test: no stream entry, no dead letter, no row beyond the keys."""
    yield
    await wait_drained(redis, pool, settings.partitions)
    for partition in range(settings.partitions):
        for kind in KINDS:
            assert await redis.xlen(stream_key(partition, kind)) == 0, (partition, kind)
            assert await redis.xlen(dead_letter_key(partition, kind)) == 0
    tables = await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        " AND tablename NOT IN ('schema_migrations', 'api_keys', 'workers', 'stream_offsets',"
        " 'deployment')"
    )
    assert tables
    for row in tables:
        count = await pool.fetchval(f'SELECT count(*) FROM "{row["tablename"]}"')
        assert count == 0, row["tablename"]
    assert await pool.fetchval("SELECT count(*) FROM api_keys") == 3  # the fixture's own


async def test_hostile_bodies_are_rejected_and_nothing_is_stored(
    api: httpx.AsyncClient, clean_state_afterwards: None
) -> None:
    assert len(CASES) > 100
    for content_type in ("application/json", "text/plain", None):
        for path, name, body in CASES:
            headers = {"Content-Type": content_type} if content_type else {}
            response = await api.post(path, content=body, headers=headers)
            _assert_clean_error(response, f"{path} {name} ({content_type})")


async def test_hostile_queries_never_fail_the_server(
    api: httpx.AsyncClient, clean_state_afterwards: None
) -> None:
    for path, params in BAD_QUERIES:
        method = "DELETE" if path.startswith("/v1/admin/keys/") else "GET"
        response = await api.request(method, path, params=params)
        _assert_clean_error(response, f"{method} {path} {params}")
    for path, params in EDGE_QUERIES:
        response = await api.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text[:500])


async def test_oversized_bodies_get_413_declared_or_chunked(
    api: httpx.AsyncClient, settings: Settings, clean_state_afterwards: None
) -> None:
    too_big = b'{"events": [' + b" " * (settings.max_body_bytes + 1) + b"]}"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(too_big), 65536):
            yield too_big[start : start + 65536]

    for path in ("/v1/clicks", "/v1/clicks/batch", "/v1/support-events/batch", "/v1/admin/keys"):
        declared = await api.post(path, content=too_big)
        _assert_clean_error(declared, f"{path} with Content-Length")
        assert declared.status_code == 413
        chunked = await api.post(path, content=chunks())  # Transfer-Encoding: chunked
        _assert_clean_error(chunked, f"{path} chunked")
        assert chunked.status_code == 413


async def test_rejections_name_the_problem(api: httpx.AsyncClient) -> None:
    """Not just 4xx: the detail says what was wrong, with the event index for batches."""
    too_many = await api.post("/v1/clicks/batch", json={"events": [CLICK] * 10_001})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "events"]
    bad = await api.post(
        "/v1/clicks/batch", json={"events": [CLICK, {**CLICK, "customer_id": 10**30}]}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "events", 1, "customer_id"]
    # A rejected 10,001-event batch is not echoed back.
    assert len(too_many.content) < 10_000
