"""`GET /dashboard`: the single-page dashboard (contract §5), public like the docs.

The page holds no key and no data: it asks for a `read` key, keeps it in the browser's
sessionStorage and calls the JSON API with it.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources

import orjson
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from helpstream.constants import CATEGORIES, VARIANT_PATTERN

router = APIRouter(tags=["dashboard"])

# The page runs only its own inline script and style and talks only to this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


SCRIPTS = ("charts.js", "app.js")


def _static(name: str) -> str:
    return resources.files("helpstream.api").joinpath("static", name).read_text("utf-8")


@cache
def dashboard_html() -> str:
    """The page, with its scripts inlined (one request, and the CSP allows only inline
    script) and the ticket categories the `category` filter offers filled in."""
    page = _static("dashboard.html")
    for name in SCRIPTS:
        script = _static(name)
        if "</script" in script.lower():
            raise ValueError(f"{name} must not contain </script")
        page = page.replace(
            f'<script src="/dashboard/{name}"></script>', f"<script>\n{script}</script>"
        )
    categories = orjson.dumps(list(CATEGORIES)).decode().replace("<", "\\u003c")
    return page.replace("__CATEGORIES__", categories).replace(
        "__VARIANT_PATTERN__", html.escape(VARIANT_PATTERN)
    )


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(dashboard_html(), headers=SECURITY_HEADERS)
