"""A short path for the hottest requests: well-formed click POSTs with a valid ingest key.

FastAPI's routing, dependency solving and exception wrappers cost several times the work
of a click request itself (measured: ~320 µs against ~50 µs per request in-process). This
ASGI middleware serves `POST /v1/clicks` and `/v1/clicks/batch` when everything is in
order — a known key with the ingest scope within its rate limit, a valid body, a buffer
that takes the events — using the same functions as the routes. Anything else (no key, a
bad body, Redis away) is handed, body included, to the regular FastAPI route, which gives
the canonical error response. So behaviour is the routes'; only the happy path is shorter.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Guard
from api.buffering import buffer_events
from api.deps import Resources
from api.errors import ServiceUnavailable
from api.models import ClickBatchIn, ClickIn, clock_context
from api.routes.clicks import routed_clicks

ROUTES: dict[str, type[ClickIn] | type[ClickBatchIn]] = {
    "/v1/clicks": ClickIn,
    "/v1/clicks/batch": ClickBatchIn,
}


class FastClickIngest:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        model = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if model is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        accepted = None if more else await self._try(scope, body, model)
        if accepted is None:
            await self.app(scope, _replay(body, more, receive), send)
            return
        payload = orjson.dumps({"accepted": accepted})
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _try(
        self, scope: Scope, body: bytes, model: type[ClickIn] | type[ClickBatchIn]
    ) -> int | None:
        """Events accepted, or None to let the regular route answer."""
        state: dict[str, Any] = scope.get("state") or {}
        guard: Guard | None = state.get("auth")
        resources: Resources | None = state.get("resources")
        token = _bearer(scope)
        if guard is None or resources is None or token is None:
            return None
        key = await guard.keys.authenticate(token)
        if key is None or not key.allows("ingest") or guard.limiter.hit(key.id, "ingest"):
            return None
        try:
            parsed = model.model_validate_json(
                body, context=clock_context(resources.settings.max_future_skew)
            )
        except ValidationError:
            return None
        clicks = parsed.events if isinstance(parsed, ClickBatchIn) else [parsed]
        if len(clicks) > resources.settings.max_batch_events:
            return None
        try:
            return (await buffer_events(resources, "clicks", routed_clicks(clicks))).accepted
        except ServiceUnavailable:
            return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, or what came before a non-body message (then handed on as is)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A receive that gives the already-read body again, then continues as before."""
    sent = False

    async def replay() -> Message:
        nonlocal sent, pending
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": pending is not None}
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replay
