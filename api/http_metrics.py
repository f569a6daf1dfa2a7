"""Process-local Prometheus metrics of the API: request durations and build info.

`HttpMetrics` is a small ASGI middleware timing every HTTP request into a histogram
labelled by method, **route template** (`/v1/pages/{page_id}`, never the raw path, so a
scanner cannot create a label per URL) and status class. Requests that match no route
are labelled `<unmatched>`. These figures are per API process (each process reports its
own; Prometheus sums them); the pipeline's cross-process counts live in Redis and
PostgreSQL and are read at scrape time by `routes/prometheus.py`.
"""

from __future__ import annotations

import platform
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, Info
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpstream import __version__

UNMATCHED = "<unmatched>"
# Ingest answers in well under a millisecond; reports and exports may take seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    """A registry per app (not the global one), so that several apps in one process
    (tests) never collide: the request histogram and the build info."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "helpstream_http_request_duration_seconds",
            "HTTP request duration, by method, route template and status class.",
            ("method", "route", "status"),
            buckets=BUCKETS,
            registry=self.registry,
        )
        Info("helpstream_build", "The running helpstream.", registry=self.registry).info(
            {"version": __version__, "python": platform.python_version()}
        )


class HttpMetrics:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.histogram = metrics.requests
        self._table: _RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before any response is a 500 to the client

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.histogram.labels(
                scope["method"], self._route(scope), f"{status // 100}xx"
            ).observe(time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        if self._table is None:
            self._table = _RouteTable(scope.get("app"))
        return self._table.template(scope["path"])


class _RouteTable:
    """Raw path → route template, from the app's routes (included routers flattened).

    Matched here rather than read from the request scope: the click fast path answers
    before routing, and where FastAPI records the route differs between versions.
    """

    def __init__(self, app: Any) -> None:
        from helpstream.api.routemap import iter_routes

        self.static: set[str] = set()
        self.dynamic: list[tuple[re.Pattern[str], str]] = []
        for route in iter_routes(getattr(app, "routes", None) or []):
            path, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
            if not isinstance(path, str) or regex is None:
                continue
            if "{" in path:
                self.dynamic.append((regex, path))
            else:
                self.static.add(path)

    def template(self, path: str) -> str:
        if path in self.static:
            return path
        return next((t for regex, t in self.dynamic if regex.match(path)), UNMATCHED)
