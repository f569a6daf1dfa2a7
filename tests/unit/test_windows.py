"""Exact windows over per-minute rollups: which minutes come from rollups, which from rows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helpstream.api.windows import UNBOUNDED_HIGH, UNBOUNDED_LOW, window


def covered(w_from: int, w_to: int, low: tuple[int, int], high: tuple[int, int], ts: int) -> int:
    """How many times a timestamp is counted: by its bucket, or by an edge range."""
    bucket = ts - ts % 60
    return (
        int(w_from <= bucket < w_to) + int(low[0] <= ts <= low[1]) + int(high[0] <= ts <= high[1])
    )


def test_whole_minutes_need_no_edges() -> None:
    w = window(120, 299)
    assert (w.bucket_from, w.bucket_to) == (120, 300)
    assert w.edge_low[0] > w.edge_low[1] and w.edge_high[0] > w.edge_high[1]


def test_partial_minutes_at_both_edges() -> None:
    w = window(130, 250)
    assert (w.bucket_from, w.bucket_to) == (180, 240)
    assert w.edge_low == (130, 179)
    assert w.edge_high == (240, 250)


def test_window_inside_one_minute_is_all_edge() -> None:
    w = window(61, 70)
    assert w.bucket_from >= w.bucket_to
    assert w.edge_low == (61, 70)


def test_unbounded_sides() -> None:
    w = window(None, None)
    assert (w.bucket_from, w.bucket_to) == (UNBOUNDED_LOW, UNBOUNDED_HIGH)
    w = window(None, 100)
    assert (w.bucket_from, w.bucket_to) == (UNBOUNDED_LOW, 60)
    assert w.edge_high == (60, 100)
    w = window(100, None)
    assert (w.bucket_from, w.edge_low) == (120, (100, 119))


def test_inverted_window_is_empty() -> None:
    w = window(500, 400)
    assert w.bucket_from >= w.bucket_to
    for ts in range(350, 550):
        assert covered(w.bucket_from, w.bucket_to, w.edge_low, w.edge_high, ts) == 0


@given(
    since=st.one_of(st.none(), st.integers(0, 10_000)),
    until=st.one_of(st.none(), st.integers(0, 10_000)),
    ts=st.integers(0, 10_000),
)
def test_every_second_in_the_window_is_counted_exactly_once(
    since: int | None, until: int | None, ts: int
) -> None:
    w = window(since, until)
    inside = (since is None or ts >= since) and (until is None or ts <= until)
    assert covered(w.bucket_from, w.bucket_to, w.edge_low, w.edge_high, ts) == int(inside)
