"""The plain-form click parser accepts only what the pydantic models accept, with the same
stream form; and it does take the plain bodies web servers send (else it buys nothing)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from helpstream.api.models import BIGINT_MAX, TIMESTAMP_MAX, ClickBatchIn, ClickIn, clock_context
from helpstream.api.plain_clicks import plain_clicks
from helpstream.api.routes.clicks import routed_clicks

NOW = 1_700_000_000.5
SKEW = 300

edge_ints = st.sampled_from(
    [0, 1, -1, BIGINT_MAX, BIGINT_MAX + 1, TIMESTAMP_MAX, TIMESTAMP_MAX + 1, 2**64]
)
near_now = st.integers(int(NOW) + SKEW - 3, int(NOW) + SKEW + 3)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, 12.5, "12", "2018-01-12T13:44:51Z", "", [], {}]),
)
number = st.one_of(st.integers(0, 10**12), edge_ints, near_now, anything)
uuid_text = st.uuids().map(str)
event_id = st.one_of(
    uuid_text,
    uuid_text.map(str.upper),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: f"urn:uuid:{u}"),
    st.text(max_size=40),
    anything,
)
variant = st.one_of(
    st.sampled_from(["A", "B", "default", "a.b-c_9", "x" * 64, "x" * 65, "A\n", "", "é", " A"]),
    st.text(max_size=70),
    anything,
)


@st.composite
def plain_documents(draw: st.DrawFn) -> dict[str, Any]:
    """What a web server sends: every field in its plain JSON form, valid."""
    doc: dict[str, Any] = {
        "timestamp": draw(st.integers(0, int(NOW))),
        "customer_id": draw(st.integers(0, BIGINT_MAX)),
        "source_page_id": draw(st.integers(0, BIGINT_MAX)),
        "target_page_id": draw(st.integers(0, BIGINT_MAX)),
    }
    if draw(st.booleans()):
        doc["is_resolved"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["event_id"] = draw(st.one_of(uuid_text, uuid_text.map(str.upper), st.none()))
    if draw(st.booleans()):
        doc["variant"] = draw(st.from_regex(r"\A[A-Za-z0-9_.\-]{1,64}\Z"))
    return doc


@st.composite
def click_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A plain valid click with, now and then, a field changed to an edge case or dropped."""
    doc = draw(plain_documents())
    odd_values = {
        "timestamp": number,
        "customer_id": number,
        "source_page_id": number,
        "target_page_id": number,
        "is_resolved": anything,
        "event_id": event_id,
        "variant": variant,
    }
    for name, values in odd_values.items():
        roll = draw(st.integers(0, 9))
        if roll == 0:
            doc[name] = draw(values)
        elif roll == 1:
            doc.pop(name, None)
    if draw(st.booleans()):
        doc["extra"] = draw(anything)
    return doc


def _json(doc: Any) -> bytes:
    """The stdlib encoder: it also writes integers beyond 64 bits (orjson refuses to)."""
    return json.dumps(doc).encode()


def _by_models(body: bytes, batch: bool) -> list[tuple[int, list[Any]]] | None:
    model: type[ClickIn] | type[ClickBatchIn] = ClickBatchIn if batch else ClickIn
    try:
        parsed = model.model_validate_json(body, context=clock_context(SKEW, now=NOW))
    except ValidationError:
        return None
    clicks = parsed.events if isinstance(parsed, ClickBatchIn) else [parsed]
    return list(routed_clicks(clicks))


def _plain(body: bytes, batch: bool) -> list[tuple[int, list[Any]]] | None:
    return plain_clicks(body, batch=batch, latest=NOW + SKEW)


@given(click_documents())
def test_a_single_click_is_accepted_only_as_the_model_accepts_it(doc: dict[str, Any]) -> None:
    body = _json(doc)
    plain = _plain(body, batch=False)
    if plain is not None:
        assert plain == _by_models(body, batch=False)


@given(st.lists(click_documents(), max_size=4), st.booleans())
def test_a_batch_is_accepted_only_as_the_model_accepts_it(
    docs: list[dict[str, Any]], wrapped_in_extra_keys: bool
) -> None:
    outer: dict[str, Any] = {"events": docs}
    if wrapped_in_extra_keys:
        outer["note"] = "ignored by the model"
    body = _json(outer)
    plain = _plain(body, batch=True)
    if plain is not None:
        assert plain == _by_models(body, batch=True)


@given(st.lists(plain_documents(), min_size=1, max_size=20))
def test_plain_bodies_take_the_short_path_with_the_models_result(
    docs: list[dict[str, Any]],
) -> None:
    batch = orjson.dumps({"events": docs})
    assert _plain(batch, batch=True) is not None
    assert _plain(batch, batch=True) == _by_models(batch, batch=True)
    single = orjson.dumps(docs[0])
    assert _plain(single, batch=False) == _by_models(single, batch=False)


def test_what_the_short_path_leaves_to_the_models() -> None:
    """Each of these is valid or invalid for the models to say (with their 422)."""
    base = {"timestamp": 1, "customer_id": 2, "source_page_id": 3, "target_page_id": 4}
    for change in (
        {"timestamp": "2018-01-12T13:44:51Z"},  # valid, but not plain
        {"customer_id": 2.0},  # valid, but not plain
        {"event_id": uuid.UUID(int=5).hex},  # valid, but not plain
        {"timestamp": int(NOW) + SKEW + 1},  # ahead of the clock
        {"is_resolved": 1},
        {"variant": "A\n"},
        {"customer_id": BIGINT_MAX + 1},
        {"source_page_id": None},
    ):
        assert _plain(orjson.dumps(base | change), batch=False) is None, change
    assert _plain(b"{not json", batch=False) is None
    assert _plain(orjson.dumps({"events": []}), batch=True) is None
    assert _plain(orjson.dumps([base]), batch=True) is None
    assert _plain(orjson.dumps({"events": [base] * 10_001}), batch=True) is None


def test_the_bounds_themselves_take_the_short_path() -> None:
    """Every bound is inclusive, as in the models: values on it are plain too."""
    latest = float(TIMESTAMP_MAX)
    context = clock_context(SKEW, now=latest - SKEW)
    for doc in (
        {"timestamp": 0, "customer_id": 0, "source_page_id": 0, "target_page_id": 0},
        {
            "timestamp": TIMESTAMP_MAX,
            "customer_id": BIGINT_MAX,
            "source_page_id": BIGINT_MAX,
            "target_page_id": BIGINT_MAX,
            "variant": "v" * 64,
        },
    ):
        body = orjson.dumps(doc)
        plain = plain_clicks(body, batch=False, latest=latest)
        assert plain is not None, doc
        by_model = ClickIn.model_validate_json(body, context=context)
        assert plain == list(routed_clicks([by_model]))
    full = {
        "events": [{"timestamp": 1, "customer_id": 2, "source_page_id": 3, "target_page_id": 4}]
    }
    full["events"] *= 10_000
    assert len(_plain(orjson.dumps(full), batch=True) or []) == 10_000


_CLICK_FIELDS = '"timestamp":1,"customer_id":2,"source_page_id":3,"target_page_id":4'


@pytest.mark.parametrize(
    "body",
    [
        # Repeated names (no Python dict can hold them): the model keeps the last value.
        '{"timestamp":1,"customer_id":1,"customer_id":2,"source_page_id":3,"target_page_id":4}',
        '{"timestamp":1,"customer_id":-1,"customer_id":2,"source_page_id":3,"target_page_id":4}',
        '{"timestamp":1,"customer_id":2,"customer_id":-1,"source_page_id":3,"target_page_id":4}',
        "{" + _CLICK_FIELDS + ',"variant":"A","variant":"B"}',
        "{" + _CLICK_FIELDS + ',"is_resolved":true,"is_resolved":false}',
        "{" + _CLICK_FIELDS + ',"timestamp":1700000301}',
        # Spellings of numbers and strings the stdlib encoder never writes.
        '{"timestamp":1e3,"customer_id":2,"source_page_id":3,"target_page_id":4}',
        '{"timestamp":-0,"customer_id":2,"source_page_id":3,"target_page_id":4}',
        '{"timestamp":NaN,"customer_id":2,"source_page_id":3,"target_page_id":4}',
        "{" + _CLICK_FIELDS + ',"variant":"\\u0041"}',
        "{" + _CLICK_FIELDS + ',"variant":"\\ud800"}',
        "\ufeff{" + _CLICK_FIELDS + "}",
        "{" + _CLICK_FIELDS + "} trailing",
        # Deeper than any decoder's recursion limit, in an ignored field.
        "{" + _CLICK_FIELDS + ',"extra":' + "[" * 100_000 + "]" * 100_000 + "}",
        "{" + _CLICK_FIELDS + ',"extra":' + '{"a":' * 50_000 + "1" + "}" * 50_001,
    ],
)
def test_bodies_no_encoder_writes_are_judged_as_the_model_judges_them(body: str) -> None:
    raw = body.encode()
    plain = _plain(raw, batch=False)
    if plain is not None:
        assert plain == _by_models(raw, batch=False)


def test_a_repeated_events_list_is_judged_as_the_model_judges_it() -> None:
    for body in (
        '{"events":[],"events":[{' + _CLICK_FIELDS + "}]}",
        '{"events":[{' + _CLICK_FIELDS + '}],"events":[]}',
    ):
        plain = _plain(body.encode(), batch=True)
        if plain is not None:
            assert plain == _by_models(body.encode(), batch=True)
