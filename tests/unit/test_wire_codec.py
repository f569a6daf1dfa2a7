"""The stream wire codec: what the API writes is what the worker reads, and nothing else.

Round trips for every event kind, and the exact edges of what `from_wire` refuses (a
refused entry becomes a dead letter instead of poisoning the partition).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpstream import events as support
from helpstream import wire as codec
from helpstream.events import ClickEvent
from helpstream.streams import dead_letter_key, parse_id, stats_key, stream_key
from helpstream.wire import (
    PAYLOAD_FIELD,
    click_from_wire,
    click_to_wire,
    decode_events,
    encode_events,
)
from helpstream.workers.sessionizer import Click

KEY = "00000000-0000-4000-8000-000000000001"


# --- clicks ------------------------------------------------------------------------------


@given(
    st.integers(0, 2**40),
    st.integers(0, 2**62),
    st.integers(0, 99),
    st.integers(0, 99),
    st.booleans(),
    st.uuids(),
    st.text(min_size=1, max_size=8),
)
def test_click_round_trip(
    ts: int, customer: int, source: int, target: int, resolved: bool, key: uuid.UUID, variant: str
) -> None:
    event = ClickEvent(key, Click(ts, customer, source, target, resolved, variant))
    wire = click_to_wire(ts, customer, source, target, resolved, str(key), variant)
    assert wire == [ts, customer, source, target, resolved, str(key), variant]
    assert click_from_wire(orjson.loads(orjson.dumps(wire))) == event


@pytest.mark.parametrize(
    "wire",
    [[10, 1, 2, 3, False, KEY], [10, 1, 2, 3, False, KEY, "v", 0], {str(i): i for i in range(7)}],
)
def test_a_click_of_the_wrong_shape_is_named_in_the_dead_letter_reason(wire: Any) -> None:
    """The message becomes the dead letter's reason: it says what the shape should be."""
    with pytest.raises(ValueError, match="a click on the wire is a list of 7 fields"):
        click_from_wire(wire)


@pytest.mark.parametrize("position", [0, 1, 2, 3])
@pytest.mark.parametrize("bad", [True, False, 1.0, "1", None])
def test_click_numbers_must_be_integers(position: int, bad: Any) -> None:
    wire: list[Any] = [10, 1, 2, 3, False, KEY, "v"]
    wire[position] = bad
    with pytest.raises(TypeError):
        click_from_wire(wire)


@pytest.mark.parametrize(
    "wire",
    [
        [10, 1, 2, 3, 0, KEY, "v"],  # is_resolved must be a bool
        [10, 1, 2, 3, None, KEY, "v"],
        [10, 1, 2, 3, False, KEY, 5],  # variant must be a string
        [10, 1, 2, 3, False, KEY, None],
    ],
)
def test_click_flags_and_variant_have_their_types(wire: list[Any]) -> None:
    with pytest.raises(TypeError):
        click_from_wire(wire)


@pytest.mark.parametrize(
    "wire", [[10, 1, 2, 3, False, "not-a-uuid", "v"], [10, 1, 2, 3, False, KEY], []]
)
def test_click_bad_key_or_arity(wire: list[Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        click_from_wire(wire)


def _key_spellings() -> st.SearchStrategy[str]:
    """Keys as a client or an older entry may spell them, and near misses."""
    canonical = st.uuids().map(str)
    spelled = st.tuples(canonical, st.sampled_from(["", "{}", "urn:uuid:", "upper", "hex"]))
    return st.one_of(
        spelled.map(lambda p: _spell(*p)),
        st.text(alphabet="0123456789abcdefABCDEF-{}:urnid ", max_size=45),
    )


def _spell(key: str, how: str) -> str:
    if how == "{}":
        return "{" + key + "}"
    if how == "upper":
        return key.upper()
    if how == "hex":
        return key.replace("-", "")
    return how + key


@given(_key_spellings())
def test_event_keys_parse_exactly_as_uuid_does(text: str) -> None:
    """The C-parsed fast path for keys accepts and refuses what `uuid.UUID` does."""
    try:
        expected = uuid.UUID(text)
    except ValueError:
        with pytest.raises(ValueError):
            codec.event_key(text)
        return
    parsed = codec.event_key(text)
    assert parsed == expected
    assert hash(parsed) == hash(expected)
    assert str(parsed) == str(expected)


def test_click_accepts_both_resolved_values() -> None:
    for resolved in (True, False):
        event = click_from_wire([10, 1, 2, 3, resolved, KEY, "v"])
        assert event.click.resolved is resolved
        assert event.event_key == uuid.UUID(KEY)


# --- support events ----------------------------------------------------------------------

SUPPORT_EVENTS: list[support.SupportEvent] = [
    support.PersonUpsert("cu", 1, "a@b.c", "Ann", "Lee", "555", 100),
    support.PersonUpsert("ag", 2, None, "Bo", "Ng", None, None),
    support.Opened(3, 1, "Bug report", 200),
    support.Message(4, 3, "customer", 1, 201, "hello"),
    support.Message(5, 3, "agent", 2, 202, ""),
    support.StatusChange("rs", 3, 203, 2),
    support.StatusChange("ro", 3, 204, None),
    support.Rated(3, 1, 205),
    support.Rated(3, 5, 206),
]


@pytest.mark.parametrize("event", SUPPORT_EVENTS, ids=lambda e: type(e).__name__)
def test_support_round_trip(event: support.SupportEvent) -> None:
    wire = codec.support_to_wire(event)
    assert isinstance(wire[0], str) and len(wire[0]) == 2
    assert codec.support_from_wire(orjson.loads(orjson.dumps(wire))) == event


def test_support_wire_codes_are_stable() -> None:
    assert [codec.support_to_wire(e)[0] for e in SUPPORT_EVENTS] == [
        "cu",
        "ag",
        "op",
        "ms",
        "ms",
        "rs",
        "ro",
        "rt",
        "rt",
    ]
    assert codec.support_to_wire(SUPPORT_EVENTS[3]) == ["ms", 4, 3, "customer", 1, 201, "hello"]


@pytest.mark.parametrize("value", [0, 1, 2**63 - 1])
def test_int_accepts_non_negative_bigints(value: int) -> None:
    assert codec._int(value) == value


@pytest.mark.parametrize("value", [-1, 2**63, True, False, 1.0, "1", None])
def test_int_refuses_anything_else(value: Any) -> None:
    with pytest.raises(TypeError):
        codec._int(value)


def test_nullable_fields() -> None:
    assert codec._int(None, nullable=True) is None
    assert codec._str(None, nullable=True) is None
    assert codec._str("x", nullable=True) == "x"
    assert codec._int(7, nullable=True) == 7
    with pytest.raises(TypeError):
        codec._str(None)
    with pytest.raises(TypeError):
        codec._str("a\x00b")
    with pytest.raises(TypeError):
        codec._str(3)


@pytest.mark.parametrize(
    "wire",
    [
        "op",
        [],
        ["zz", 1, 2, 3],
        ["cu", 1, None, "A", "B", None],  # one field short
        ["op", 3, 1, "Spam", 200],  # unknown category
        ["op", 3, 1, "Bug report"],
        ["ms", 4, 3, "robot", 1, 201, "x"],  # unknown sender type
        ["ms", 4, 3, "agent", 1, 201],
        ["rs", 3, 203],
        ["ro", 3, 203, None, 1],
        ["rt", 3, 0, 205],  # rating out of range
        ["rt", 3, 6, 205],
        ["rt", 3, 5],
        ["cu", -1, None, "A", "B", None, None],
        ["cu", 1, None, "A", 5, None, None],
    ],
)
def test_support_from_wire_refuses_malformed_events(wire: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        codec.support_from_wire(wire)


def test_version_key_is_the_content() -> None:
    person = SUPPORT_EVENTS[0]
    assert isinstance(person, support.PersonUpsert)
    assert person.version_key == '["Ann","Lee","a@b.c","555"]'


# --- stream entries ----------------------------------------------------------------------


def test_keys_share_one_hash_tag_per_partition() -> None:
    assert stream_key(3, "clicks") == "hs:{p3}:clicks"
    assert stream_key(0, "support") == "hs:{p0}:support"
    assert dead_letter_key(3, "clicks") == "hs:{p3}:dead:clicks"
    assert stats_key(12) == "hs:{p12}:stats"


def test_entry_payload_round_trip() -> None:
    events = [[1, 2, "x"], ["ms", None, True]]
    payload = encode_events(events)
    assert payload == orjson.dumps(events)
    assert decode_events({PAYLOAD_FIELD: payload}) == events


@pytest.mark.parametrize(
    "fields", [{}, {b"other": b"[]"}, {PAYLOAD_FIELD: b'{"a": 1}'}, {PAYLOAD_FIELD: b"3"}]
)
def test_entry_that_is_not_ours_is_refused(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(ValueError):
        decode_events(fields)


def test_parse_id_orders_like_redis() -> None:
    assert parse_id(b"1700000000000-5") == (1700000000000, 5)
    assert parse_id("12-0") == (12, 0)
    assert parse_id("12") == (12, 0)
    assert parse_id("0-0") == (0, 0)
    assert parse_id("9-10") > parse_id("9-9") > parse_id("8-99")


@pytest.mark.parametrize("raw", ["op", {"op": 1}, [], None, 7])
def test_support_event_must_be_a_non_empty_array(raw: Any) -> None:
    with pytest.raises(TypeError, match="non-empty JSON array"):
        codec.support_from_wire(raw)


def test_support_errors_name_the_bad_value() -> None:
    """A dead letter's reason must say what was wrong, not just that something was."""
    with pytest.raises(ValueError, match="unknown category 'Spam'"):
        codec.support_from_wire(["op", 3, 1, "Spam", 200])
    with pytest.raises(ValueError, match="unknown sender_type 'robot'"):
        codec.support_from_wire(["ms", 4, 3, "robot", 1, 201, "x"])
    with pytest.raises(ValueError, match="rating out of range: 6"):
        codec.support_from_wire(["rt", 3, 6, 205])
