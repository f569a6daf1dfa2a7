"""POST click events (contract §3): validate, partition by customer, buffer in Redis."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from asyncpg.pgproto.pgproto import UUID as FastUUID
from fastapi import APIRouter, Request, status

from helpstream.api.bodies import parse_body
from helpstream.api.buffering import INGEST_RESPONSES
from helpstream.api.deps import Buffer
from helpstream.api.models import Accepted, ClickBatchIn, ClickIn
from helpstream.api.openapi import request_body
from helpstream.wire import click_to_wire

router = APIRouter(prefix="/v1/clicks", tags=["clicks"])


def content_key(click: ClickIn) -> str:
    """A UUID-shaped key from the click's content: a retried click without event_id counts
    once."""
    return content_key_of(
        click.customer_id,
        click.timestamp,
        click.source_page_id,
        click.target_page_id,
        click.is_resolved,
        click.variant,
    )


def content_key_of(
    customer_id: int, timestamp: int, source: int, target: int, resolved: bool, variant: str
) -> str:
    """`content_key` from the fields. BLAKE2b rather than uuid5: it is on the hot path of
    every batch (4× faster); a copy of a keyed hasher and asyncpg's C UUID to spell it cost
    0.4 µs less per click again (a quarter of the function)."""
    hasher = _CLICK_KEY_HASH.copy()
    hasher.update(f"{customer_id}:{timestamp}:{source}:{target}:{int(resolved)}:{variant}".encode())
    return str(FastUUID(hasher.digest()))


_CLICK_KEY_HASH = hashlib.blake2b(digest_size=16, person=b"helpstream-click")


def to_wire(click: ClickIn) -> list[Any]:
    """The stream form of a validated click, with its de-duplication key."""
    key = str(click.event_id) if click.event_id is not None else content_key(click)
    return click_to_wire(
        click.timestamp,
        click.customer_id,
        click.source_page_id,
        click.target_page_id,
        click.is_resolved,
        key,
        click.variant,
    )


def routed_clicks(clicks: list[ClickIn]) -> Iterator[tuple[int, list[Any]]]:
    """Clicks are partitioned by customer: one customer's clicks are applied in order."""
    return ((c.customer_id, to_wire(c)) for c in clicks)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record one click",
    response_model=Accepted,
    responses=INGEST_RESPONSES,
    openapi_extra=request_body(ClickIn),
)
async def post_click(request: Request, buffer: Buffer) -> Accepted:
    click = await parse_body(request, ClickIn)
    return await buffer.buffer("clicks", routed_clicks([click]))


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record up to 10,000 clicks; any bad event rejects the whole batch",
    response_model=Accepted,
    responses=INGEST_RESPONSES,
    openapi_extra=request_body(ClickBatchIn),
)
async def post_click_batch(request: Request, buffer: Buffer) -> Accepted:
    batch = await parse_body(request, ClickBatchIn)
    buffer.check_batch_size(len(batch.events))
    return await buffer.buffer("clicks", routed_clicks(batch.events))
