"""Route introspection for the auth tests: which scopes each route requires."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from helpstream.api.auth import PUBLIC_PATHS, ScopeCheck
from helpstream.api.routemap import iter_routes
from helpstream.keys import Scope


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
