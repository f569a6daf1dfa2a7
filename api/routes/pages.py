"""Page names (contract §8): admins name pages, readers list them, metrics show them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from helpstream.api.auth import ErrorOut
from helpstream.api.bodies import parse_body
from helpstream.api.deps import Pool
from helpstream.api.openapi import request_body

# Two routers, one per scope: GET is `read`, PUT is `admin` (app.py includes them so).
router = APIRouter(prefix="/v1/pages", tags=["pages"])
admin_router = APIRouter(prefix="/v1/pages", tags=["pages"])

_NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it with a 422, not a 500


class PageIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Billing & payments", "url": "/help/billing", "group": "hubs"}]
        },
    )

    name: str = Field(min_length=1, max_length=200, pattern=_NO_NUL, description="Shown name.")
    url: str | None = Field(
        default=None, max_length=2048, pattern=_NO_NUL, description="Where the page lives."
    )
    group: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=_NO_NUL,
        description="A label to list pages by (`GET /v1/pages?group=`).",
    )


class PageOut(BaseModel):
    page_id: int
    name: str
    url: str | None
    group: str | None


class PageList(BaseModel):
    items: list[PageOut]


PageId = Annotated[int, Path(ge=0, le=2**63 - 1, description="The page's ID in click events.")]


def _page(row: asyncpg.Record) -> PageOut:
    return PageOut(page_id=row["page_id"], name=row["name"], url=row["url"], group=row["grp"])


@admin_router.put(
    "/{page_id}",
    response_model=PageOut,
    summary="Name a page (create or replace its name, URL and group)",
    description="Idempotent: the page's previous name, URL and group are replaced. Names "
    "show up as `page_name` in `GET /v1/metrics/pages` and on the dashboard.",
    openapi_extra=request_body(PageIn),
    responses={
        413: {"model": ErrorOut, "description": "Request body too large"},
        422: {"description": "Invalid body: `detail` names each bad field"},
    },
)
async def put_page(page_id: PageId, request: Request, pool: Pool) -> PageOut:
    body = await parse_body(request, PageIn)  # read only after the key check
    row = await pool.fetchrow(
        """
        INSERT INTO pages (page_id, name, url, page_group) VALUES ($1, $2, $3, $4)
        ON CONFLICT (page_id) DO UPDATE
        SET name = EXCLUDED.name, url = EXCLUDED.url, page_group = EXCLUDED.page_group,
            updated_at = now()
        RETURNING page_id, name, url, page_group AS grp
        """,
        page_id,
        body.name,
        body.url,
        body.group,
    )
    return _page(row)


@router.get(
    "",
    response_model=PageList,
    summary="Named pages, by page_id",
    description="Every page that has a name, or only those of one `group`.",
)
async def list_pages(
    pool: Pool,
    group: Annotated[
        str | None, Query(max_length=200, pattern=_NO_NUL, description="Only this group.")
    ] = None,
) -> PageList:
    rows = await pool.fetch(
        "SELECT page_id, name, url, page_group AS grp FROM pages"
        " WHERE ($1::text IS NULL OR page_group = $1) ORDER BY page_id",
        group,
    )
    return PageList(items=[_page(r) for r in rows])


async def page_names(pool: asyncpg.Pool, page_ids: Iterable[int]) -> dict[int, str]:
    """The names of those of ``page_ids`` that have one (one indexed lookup)."""
    rows = await pool.fetch(
        "SELECT page_id, name FROM pages WHERE page_id = ANY($1::bigint[])", list(page_ids)
    )
    return {r["page_id"]: r["name"] for r in rows}
