"""The stream wire format, encode and decode side by side so producer and consumer agree.

One stream entry holds all events of one request for one partition: field ``b`` is a JSON
array of events, each event itself a compact JSON array. The API encodes (`encode_events`,
`click_to_wire`, `support_to_wire`); the workers decode (`decode_events`, `click_from_wire`,
`support_from_wire`) and get a ValueError or TypeError for anything malformed.

    click:    [timestamp, customer_id, source, target, is_resolved, event_key, variant]
    support:  [code, field, ...]   (codes in `helpstream.events`)
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from asyncpg.pgproto.pgproto import UUID as FastUUID

from helpstream.constants import CATEGORIES
from helpstream.events import (
    AGENT,
    CUSTOMER,
    MESSAGE,
    OPENED,
    RATED,
    REOPENED,
    RESOLVED,
    Click,
    ClickEvent,
    Message,
    Opened,
    PersonUpsert,
    Rated,
    StatusChange,
    SupportEvent,
)

PAYLOAD_FIELD = b"b"


# --- stream entries ----------------------------------------------------------------------


def encode_events(events: list[Any]) -> bytes:
    """The payload of one stream entry."""
    return orjson.dumps(events)


def decode_events(fields: dict[bytes, bytes]) -> list[Any]:
    """The events of one entry; raises ValueError for an entry that is not ours."""
    payload = fields.get(PAYLOAD_FIELD)
    if payload is None:
        raise ValueError("entry has no payload field")
    events = orjson.loads(payload)
    if not isinstance(events, list):
        raise ValueError("payload is not a list")
    return events


# --- clicks ------------------------------------------------------------------------------


def click_to_wire(
    timestamp: int,
    customer_id: int,
    source: int,
    target: int,
    resolved: bool,
    event_key: str,
    variant: str,
) -> list[Any]:
    """A click as the API writes it to the stream."""
    return [timestamp, customer_id, source, target, resolved, event_key, variant]


def click_from_wire(raw: Any) -> ClickEvent:
    """Rebuild a click from the stream; ValueError/TypeError for anything malformed."""
    if not isinstance(raw, list) or len(raw) != 7:
        raise ValueError("a click on the wire is a list of 7 fields")
    ts, customer_id, source, target, resolved, key, variant = raw
    # Exact type checks (orjson yields exactly these types; `type(True) is int` is False).
    if not (type(ts) is type(customer_id) is type(source) is type(target) is int):
        raise TypeError("click numbers must be integers")
    if type(resolved) is not bool or type(variant) is not str:
        raise TypeError("bad is_resolved or variant")
    if type(key) is not str:
        raise TypeError("the event key must be a string")
    return ClickEvent(event_key(key), Click(ts, customer_id, source, target, resolved, variant))


def event_key(text: str) -> uuid.UUID:
    """The UUID of a wire event key, parsed in C where it can be.

    asyncpg's UUID (a `uuid.UUID` subclass, equal and hash-equal to it) parses a key 7x
    faster than `uuid.UUID`, but takes fewer spellings (no braces, no ``urn:uuid:``); those
    fall back to `uuid.UUID`, so exactly what `uuid.UUID` accepts is accepted.
    """
    try:
        parsed: uuid.UUID = FastUUID(text)
        return parsed
    except ValueError:
        return uuid.UUID(text)


# --- help-desk events --------------------------------------------------------------------


def support_to_wire(event: SupportEvent) -> list[Any]:
    """The compact stream form of an event (a JSON array led by its code)."""
    if isinstance(event, PersonUpsert):
        e = event
        return [e.code, e.person_id, e.email, e.first_name, e.last_name, e.phone, e.ts]
    if isinstance(event, Opened):
        return [OPENED, event.ticket_id, event.customer_id, event.category, event.ts]
    if isinstance(event, Message):
        m = event
        return [MESSAGE, m.message_id, m.ticket_id, m.sender_type, m.sender_id, m.ts, m.text]
    if isinstance(event, StatusChange):
        return [event.code, event.ticket_id, event.ts, event.agent_id]
    return [RATED, event.ticket_id, event.rating, event.ts]


def _int(value: Any, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise TypeError(f"expected a non-negative bigint, got {value!r}")
    return value


def _str(value: Any, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise TypeError(f"expected a string, got {value!r}")
    return value


def support_from_wire(raw: Any) -> SupportEvent:
    """Rebuild an event from the stream; ValueError/TypeError for anything malformed."""
    if not isinstance(raw, list) or not raw:
        raise TypeError("a support event is a non-empty JSON array")
    code, *f = raw
    if code in (CUSTOMER, AGENT) and len(f) == 6:
        return PersonUpsert(
            code,
            _int(f[0]),
            _str(f[1], nullable=True),
            _str(f[2]),
            _str(f[3]),
            _str(f[4], nullable=True),
            _int(f[5], nullable=True),
        )
    if code == OPENED and len(f) == 4:
        if f[2] not in CATEGORIES:
            raise ValueError(f"unknown category {f[2]!r}")
        return Opened(_int(f[0]), _int(f[1]), f[2], _int(f[3]))
    if code == MESSAGE and len(f) == 6:
        if f[2] not in ("customer", "agent"):
            raise ValueError(f"unknown sender_type {f[2]!r}")
        return Message(_int(f[0]), _int(f[1]), f[2], _int(f[3]), _int(f[4]), _str(f[5]))
    if code in (RESOLVED, REOPENED) and len(f) == 3:
        return StatusChange(code, _int(f[0]), _int(f[1]), _int(f[2], nullable=True))
    if code == RATED and len(f) == 3:
        rating = _int(f[1])
        if not 1 <= rating <= 5:
            raise ValueError(f"rating out of range: {rating}")
        return Rated(_int(f[0]), rating, _int(f[2]))
    raise ValueError(f"unknown support event {code!r} with {len(f)} fields")
