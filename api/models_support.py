"""Help-desk events and report bodies (contract §4).

Events are a discriminated union on `type`, so a bad event's error names the one model it
claimed to be rather than all seven. Strings may not contain NUL: PostgreSQL cannot store
it, and an event that was answered 202 must never fail later in the worker.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, WithJsonSchema

from helpstream.api.models import Id, UnixSeconds
from helpstream.constants import Category

SenderType = Literal["customer", "agent"]
EVENT_TYPES = (
    "customer.upserted",
    "agent.upserted",
    "ticket.opened",
    "message.sent",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.rated",
)

_NO_NUL = r"^[^\x00]*$"


def _no_bool(value: object) -> object:
    """JSON true/false are not ratings, even though pydantic would read them as 1/0."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    return value


def _phone(value: object) -> object:
    """Phone numbers are digits in the seed data; accept them as numbers or strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=_NO_NUL)]
Email = Annotated[str, Field(max_length=320, pattern=_NO_NUL)]
Phone = Annotated[
    str,
    Field(max_length=64, pattern=_NO_NUL),
    BeforeValidator(_phone),
    # Published as accepted: a string, or digits as a JSON integer.
    WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": 64, "pattern": _NO_NUL}, {"type": "integer"}]}
    ),
]
OptionalTimestamp = Annotated[
    UnixSeconds | None,
    Field(
        default=None,
        description="When the record changed; of two versions the later one wins "
        "(ties and missing timestamps are settled by content, so order never matters).",
    ),
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Person(_Event):
    """What customers and agents share."""

    email: Email | None = None
    first_name: Name
    last_name: Name
    phone: Phone | None = None
    timestamp: OptionalTimestamp = None


class CustomerUpserted(_Person):
    """Create or update a customer."""

    type: Literal["customer.upserted"]
    customer_id: Id


class AgentUpserted(_Person):
    """Create or update a support agent."""

    type: Literal["agent.upserted"]
    agent_id: Id


class TicketOpened(_Event):
    """A customer opened a ticket (its first status event: open)."""

    type: Literal["ticket.opened"]
    ticket_id: Id
    customer_id: Id
    category: Category
    timestamp: UnixSeconds


class MessageSent(_Event):
    """A message on a ticket; `sender_id` is the customer's or the agent's id."""

    type: Literal["message.sent"]
    message_id: Id = Field(description="Unique; a repeated message_id counts once.")
    ticket_id: Id
    sender_type: SenderType
    sender_id: Id
    timestamp: UnixSeconds
    text: Annotated[str, Field(max_length=100_000, pattern=_NO_NUL)] = ""


class TicketResolved(_Event):
    """An agent marked the ticket resolved."""

    type: Literal["ticket.resolved"]
    ticket_id: Id
    timestamp: UnixSeconds
    agent_id: Id | None = None


class TicketReopened(_Event):
    """The ticket is open again; the earlier resolution stays in its history."""

    type: Literal["ticket.reopened"]
    ticket_id: Id
    timestamp: UnixSeconds


class TicketRated(_Event):
    """The customer rated the ticket; a later rating replaces an earlier one."""

    type: Literal["ticket.rated"]
    ticket_id: Id
    # Field first, so the schema shows the bounds (see helpstream.api.models.UnixSeconds).
    rating: Annotated[int, Field(ge=1, le=5), BeforeValidator(_no_bool)]
    timestamp: UnixSeconds


AnySupportEvent = (
    CustomerUpserted
    | AgentUpserted
    | TicketOpened
    | MessageSent
    | TicketResolved
    | TicketReopened
    | TicketRated
)
SupportEvent = Annotated[AnySupportEvent, Field(discriminator="type")]


class SupportEventIn(RootModel[SupportEvent]):
    """One help-desk event; `type` selects its fields."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "ticket.opened",
                    "ticket_id": 1,
                    "customer_id": 7,
                    "category": "Bug report",
                    "timestamp": 1515764691,
                }
            ]
        }
    )


class SupportBatchIn(BaseModel):
    events: list[SupportEvent] = Field(min_length=1, max_length=10_000)


# --- reports -------------------------------------------------------------------------


class ResolutionTime(BaseModel):
    tickets: int = Field(description="Resolved tickets with at least one message.")
    min_hours: float | None
    avg_hours: float | None
    max_hours: float | None
    p50_hours: float | None = Field(description="Median (percentile_cont 0.5).")
    p90_hours: float | None = Field(description="90th percentile (percentile_cont 0.9).")


class AgentsPerTicket(BaseModel):
    number_of_agents: int
    number_of_tickets: int


class TicketsPerAgent(BaseModel):
    agent_id: int
    agent: str | None = Field(description='"First Last"; null until the agent is upserted.')
    number_of_tickets: int


class ResolutionTimeByMonth(BaseModel):
    month: str = Field(description="YYYY-MM (UTC) of the ticket's first message.")
    tickets: int
    min_hours: float
    avg_hours: float
    max_hours: float


class AgentRating(BaseModel):
    agent_id: int
    agent: str | None = Field(description='"First Last"; null until the agent is upserted.')
    rated_tickets: int
    min_rating: int | None
    avg_rating: float | None
    max_rating: int | None


class FirstResponseTime(BaseModel):
    tickets: int = Field(description="Tickets with at least one agent message.")
    unanswered_tickets: int = Field(description="Tickets without any agent message yet.")
    min_hours: float | None
    avg_hours: float | None
    max_hours: float | None
    p50_hours: float | None
    p90_hours: float | None


class Csat(BaseModel):
    responses: int = Field(description="Rated tickets (each counted once, current rating).")
    satisfied: int = Field(description="Rated tickets whose current rating is 4 or 5.")
    csat: float | None = Field(description="satisfied / responses (0..1); null when none.")
