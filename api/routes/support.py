"""POST help-desk events (contract §4): validate, partition by ticket, buffer in Redis.

Same guarantees as clicks: a batch with any bad event is rejected whole, a 202 means every
event is in Redis. Ticket events go to partition ticket_id % partitions, so one worker
applies a ticket's events; upserts of customers and agents go by their own id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from helpstream import events as wire
from helpstream.api.bodies import parse_body
from helpstream.api.buffering import INGEST_RESPONSES
from helpstream.api.deps import Buffer
from helpstream.api.models import Accepted
from helpstream.api.models_support import (
    EVENT_TYPES,
    AgentUpserted,
    AnySupportEvent,
    CustomerUpserted,
    MessageSent,
    SupportBatchIn,
    SupportEventIn,
    TicketOpened,
    TicketReopened,
    TicketResolved,
)
from helpstream.api.openapi import request_body
from helpstream.wire import support_to_wire

router = APIRouter(prefix="/v1/support-events", tags=["help desk"])


def _clean_loc(loc: tuple[int | str, ...], error_type: str) -> tuple[int | str, ...]:
    """Drop pydantic's union tag from a location: ("events", 3, "ticket.rated", "rating")
    becomes ("events", 3, "rating"); a missing or unknown `type` is located at `type`."""
    cleaned = tuple(part for part in loc if part not in EVENT_TYPES)
    if error_type in ("union_tag_not_found", "union_tag_invalid"):
        cleaned = (*cleaned, "type")
    return ("body", *cleaned)


def to_event(e: AnySupportEvent) -> tuple[int, wire.SupportEvent]:
    """The stream form of a validated event and the id that picks its partition."""
    if isinstance(e, CustomerUpserted):
        return e.customer_id, wire.PersonUpsert(
            wire.CUSTOMER, e.customer_id, e.email, e.first_name, e.last_name, e.phone, e.timestamp
        )
    if isinstance(e, AgentUpserted):
        return e.agent_id, wire.PersonUpsert(
            wire.AGENT, e.agent_id, e.email, e.first_name, e.last_name, e.phone, e.timestamp
        )
    if isinstance(e, TicketOpened):
        return e.ticket_id, wire.Opened(e.ticket_id, e.customer_id, e.category, e.timestamp)
    if isinstance(e, MessageSent):
        message = wire.Message(
            e.message_id, e.ticket_id, e.sender_type, e.sender_id, e.timestamp, e.text
        )
        return e.ticket_id, message
    if isinstance(e, TicketResolved):
        return e.ticket_id, wire.StatusChange(wire.RESOLVED, e.ticket_id, e.timestamp, e.agent_id)
    if isinstance(e, TicketReopened):
        return e.ticket_id, wire.StatusChange(wire.REOPENED, e.ticket_id, e.timestamp, None)
    return e.ticket_id, wire.Rated(e.ticket_id, e.rating, e.timestamp)


async def buffer_support(buffer: Buffer, events: list[AnySupportEvent]) -> Accepted:
    """Ticket events are partitioned by ticket: one ticket's events apply in order."""
    routed = ((key, support_to_wire(event)) for key, event in map(to_event, events))
    return await buffer.buffer("support", routed)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record one help-desk event",
    description="`type` selects the event's fields (the `SupportEventIn` schema). Events "
    "about a ticket may arrive in any order and more than once: the reports converge once "
    "all have arrived. "
    "A repeated `message_id` counts once. A ticket's status is that of its latest "
    "`ticket.opened` / `ticket.resolved` / `ticket.reopened` by timestamp (at the same "
    "second: reopened > resolved > opened); its rating is the latest `ticket.rated` (at the "
    "same second: the higher rating). Of two `ticket.opened` for one ticket the earlier "
    "counts; of two upserts of a person the later `timestamp` (ties: by content). "
    "`sender_id` is the agent's `agent_id` or the customer's `customer_id`.",
    response_model=Accepted,
    responses=INGEST_RESPONSES,
    openapi_extra=request_body(SupportEventIn),
)
async def post_support_event(request: Request, buffer: Buffer) -> Accepted:
    event = await parse_body(request, SupportEventIn, _clean_loc)
    return await buffer_support(buffer, [event.root])


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Record up to 10,000 help-desk events; any bad event rejects the whole batch",
    response_model=Accepted,
    responses=INGEST_RESPONSES,
    openapi_extra=request_body(SupportBatchIn),
)
async def post_support_batch(request: Request, buffer: Buffer) -> Accepted:
    batch = await parse_body(request, SupportBatchIn, _clean_loc)
    buffer.check_batch_size(len(batch.events))
    return await buffer_support(buffer, list(batch.events))
