"""The app's routes as requests see them, for checks that look at all of them at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import fastapi.routing
from starlette.routing import BaseRoute


def iter_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Every route with its effective path, methods and dependencies (`include_router`'s too).

    Newer FastAPI keeps an included router as one entry of `app.routes`; its
    `iter_route_contexts` flattens them. Older versions list the routes themselves.
    """
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    if flatten is None:
        yield from routes
    else:
        yield from flatten(routes)


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> set[str]:
    """All methods some route serves at `path` (for a 405's Allow header)."""
    methods: set[str] = set()
    for route in iter_routes(routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return methods
