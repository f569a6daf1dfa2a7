"""The lateness rule depends on arrival order only, never on how arrivals are batched."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import given
from hypothesis import strategies as st

from helpstream.events import ClickEvent
from helpstream.workers.click_store import classify_late, first_deliveries
from helpstream.workers.sessionizer import Click, Path

LATENESS = 300

arrivals = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2_000), st.integers(0, 5)),
    max_size=40,
)


def events(raw: list[tuple[int, int, int]]) -> list[ClickEvent]:
    return [ClickEvent(uuid.UUID(int=key), Click(ts, customer, 1, 2)) for customer, ts, key in raw]


def classify_in_batches(evs: list[ClickEvent], cuts: list[int]) -> list[tuple[ClickEvent, bool]]:
    """What the worker does batch by batch: state between batches is the stored newest
    path, whose end is the customer's newest non-late click."""
    tails: dict[int, tuple[int, Path]] = {}
    stored: set[tuple[int, uuid.UUID]] = set()
    out: list[tuple[ClickEvent, bool]] = []
    bounds = [0, *sorted(set(cuts)), len(evs)]
    for start, end in itertools.pairwise(bounds):
        unique = first_deliveries(evs[start:end])
        # A repeat delivery of a stored key is dropped before lateness is judged.
        fresh = [e for e in unique if (e.click.customer_id, e.event_key) not in stored]
        for event, late in zip(fresh, classify_late(fresh, tails, LATENESS), strict=True):
            c = event.click
            stored.add((c.customer_id, event.event_key))
            out.append((event, late))
            tail = tails.get(c.customer_id)
            if not late and (tail is None or c.timestamp > tail[1].end_ts):
                tails[c.customer_id] = (0, Path(c.customer_id, "default", 0, c.timestamp))
    return out


@given(arrivals, st.lists(st.integers(0, 40), max_size=6))
def test_batch_boundaries_never_change_what_is_late(
    raw: list[tuple[int, int, int]], cuts: list[int]
) -> None:
    evs = events(raw)
    assert classify_in_batches(evs, [c for c in cuts if c <= len(evs)]) == classify_in_batches(
        evs, []
    )


def test_a_reused_key_with_other_content_never_moves_the_newest_click() -> None:
    """Found by the property above: key 0 delivered again with a much newer timestamp, in a
    later batch than its first delivery, must not make key 1 late (it is a repeat)."""
    evs = events([(0, 0, 0), (0, 301, 0), (0, 0, 1)])
    assert [late for _, late in classify_in_batches(evs, [1])] == [False, False]
    assert classify_in_batches(evs, [1]) == classify_in_batches(evs, [])


def test_a_click_arriving_after_a_much_newer_one_is_late_even_in_one_batch() -> None:
    evs = events([(1, 1000, 1), (1, 500, 2), (1, 800, 3)])
    assert [late for _, late in classify_in_batches(evs, [])] == [False, True, False]
