"""Admin endpoints for API keys (scope `admin`, applied where the router is included)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from helpstream.api.auth import ErrorOut, KeyGuard
from helpstream.api.bodies import parse_body
from helpstream.api.deps import Pool
from helpstream.api.openapi import request_body
from helpstream.keys import KeyCreated, KeyOut, Scope, create_key, list_keys, revoke_key

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope
    name: str = Field(default="", max_length=200, description="What the key is for.")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    summary="Create an API key; the response is the only time the key is shown",
    openapi_extra=request_body(KeyCreate),
    responses={
        413: {"model": ErrorOut, "description": "Request body too large"},
        422: {"description": "Invalid body: `detail` names each bad field"},
    },
)
async def post_key(request: Request, pool: Pool) -> KeyCreated:
    # The body is read only after the key check (the router's dependency).
    body = await parse_body(request, KeyCreate)
    return await create_key(pool, body.scope, body.name)


@router.get("", response_model=list[KeyOut], summary="All API keys (without secrets)")
async def get_keys(pool: Pool) -> list[KeyOut]:
    return await list_keys(pool)


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke an API key (idempotent); takes effect in every API process within "
    "HELPSTREAM_KEY_CACHE_SECONDS",
    responses={404: {"model": ErrorOut, "description": "No such key"}},
)
async def delete_key(
    key_id: Annotated[int, Path(ge=1, le=2**63 - 1)], pool: Pool, guard: KeyGuard
) -> KeyOut:
    key = await revoke_key(pool, key_id)
    if key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such API key")
    guard.keys.invalidate(key.prefix)
    return key
