"""The events as the workers see them after decoding (see `helpstream.wire` for the codec).

Clicks are what the sessionizer folds; help-desk events are what the ticket projection
applies. Both are plain dataclasses: hashable, no validation here (the API validates on the
way in, the codec checks types on the way out). Clicks are built once per event in the
worker's hottest loop, so they are hashable by value (``unsafe_hash``) rather than
``frozen``: a frozen dataclass's ``__init__`` sets each field through
``object.__setattr__``, which made building a click 3.5x slower. Nothing mutates them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Literal

import orjson

from helpstream.constants import DEFAULT_VARIANT


@dataclass(slots=True, unsafe_hash=True)
class Click:
    """One click event, as the sessionizer needs it (de-duplicated upstream)."""

    timestamp: int
    customer_id: int
    source: int
    target: int
    resolved: bool = False
    variant: str = DEFAULT_VARIANT


@dataclass(slots=True, unsafe_hash=True)
class ClickEvent:
    """A click as it travels through the stream, with its de-duplication key."""

    event_key: uuid.UUID
    click: Click


# Help-desk wire codes: the first element of each event's JSON array in the stream.
CUSTOMER: Final = "cu"
AGENT: Final = "ag"
OPENED: Final = "op"
MESSAGE: Final = "ms"
RESOLVED: Final = "rs"
REOPENED: Final = "ro"
RATED: Final = "rt"


@dataclass(frozen=True, slots=True)
class PersonUpsert:
    """customer.upserted or agent.upserted."""

    code: Literal["cu", "ag"]
    person_id: int
    email: str | None
    first_name: str
    last_name: str
    phone: str | None
    ts: int | None

    @property
    def version_key(self) -> str:
        """The content as text: settles ties between versions with the same timestamp."""
        return orjson.dumps([self.first_name, self.last_name, self.email, self.phone]).decode()


@dataclass(frozen=True, slots=True)
class Opened:
    ticket_id: int
    customer_id: int
    category: str
    ts: int


@dataclass(frozen=True, slots=True)
class Message:
    message_id: int
    ticket_id: int
    sender_type: Literal["customer", "agent"]
    sender_id: int
    ts: int
    text: str


@dataclass(frozen=True, slots=True)
class StatusChange:
    """ticket.resolved or ticket.reopened."""

    code: Literal["rs", "ro"]
    ticket_id: int
    ts: int
    agent_id: int | None


@dataclass(frozen=True, slots=True)
class Rated:
    ticket_id: int
    rating: int
    ts: int


SupportEvent = PersonUpsert | Opened | Message | StatusChange | Rated
