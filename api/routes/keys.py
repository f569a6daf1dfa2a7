"""Admin endpoints for API keys (scope `admin`, applied where the router is included)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import ErrorOut, Guard, KeyCreated, KeyOut, Scope, create_key, list_keys, revoke_key
from api.deps import Deps
from api.openapi import request_body

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
async def post_key(request: Request, deps: Deps) -> KeyCreated:
    # The body is read only after the key check and validated by pydantic's own JSON
    # parser: any malformed body (bad UTF-8, too deep) is a 422 like everywhere else.
    try:
        body = KeyCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from None
    return await create_key(deps.pool, body.scope, body.name)


@router.get("", response_model=list[KeyOut], summary="All API keys (without secrets)")
async def get_keys(deps: Deps) -> list[KeyOut]:
    return await list_keys(deps.pool)


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke an API key (idempotent); takes effect in every API process within "
    "HELPSTREAM_KEY_CACHE_SECONDS",
    responses={404: {"model": ErrorOut, "description": "No such key"}},
)
async def delete_key(
    key_id: Annotated[int, Path(ge=1, le=2**63 - 1)], deps: Deps, request: Request
) -> KeyOut:
    key = await revoke_key(deps.pool, key_id)
    if key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such API key")
    guard: Guard = request.state.auth
    guard.keys.invalidate(key.prefix)
    return key
