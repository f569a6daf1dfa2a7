"""`/docs` (Swagger UI) and `/redoc` served from the installed package, not from a CDN.

FastAPI's own pages load their JavaScript and CSS from a CDN, so on a machine without
internet access they stay blank. The `fastapi-offline` wheel ships the same Swagger UI and
ReDoc bundles (MIT/Apache-2.0 licensed, see its dist-info); we mount its `static/` folder
under `/docs/assets` and point FastAPI's page builders at it.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"

# Swagger UI keeps the key across reloads, sends nothing to its online validator and
# lists the operations collapsed by tag so that a new reader sees the whole API at once.
SWAGGER_UI_PARAMETERS = {
    "persistAuthorization": True,
    "validatorUrl": None,
    "docExpansion": "list",
    "displayRequestDuration": True,
    "tryItOutEnabled": False,
}

VERBS = ("get_", "post_", "put_", "delete_", "list_")


def operation_id(route: APIRoute) -> str:
    """SDK-friendly operation ids: the endpoint function's name, led by its HTTP verb.

    `post_click` stays `post_click`; `path_metrics` on GET becomes `get_path_metrics`
    (FastAPI's default would be `path_metrics_v1_metrics_paths_get`).
    """
    name = route.name
    if name.startswith(VERBS):
        return name
    method = sorted(route.methods or {"get"})[0].lower()
    return f"{method}_{name}"


def assets_directory() -> str:
    return str(resources.files("fastapi_offline").joinpath("static"))


def install_docs(app: FastAPI) -> None:
    """The docs pages and their assets; create the app with `docs_url=redoc_url=None`."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} – API docs",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} – API reference",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
