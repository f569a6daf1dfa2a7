"""Exact time windows over per-minute rollups.

A window [since, until] (inclusive, unix seconds) is answered from the rollup buckets it
covers whole, plus a scan of the completed paths in the at most two partial minutes at
its edges, so results are exact to the second while reads stay proportional to minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpstream.constants import BUCKET_SECONDS

UNBOUNDED_LOW = -(2**62)
UNBOUNDED_HIGH = 2**62
EMPTY = (1, 0)  # a range no timestamp falls into


@dataclass(frozen=True, slots=True)
class Window:
    bucket_from: int  # first whole bucket (inclusive)
    bucket_to: int  # end of whole buckets (exclusive)
    edge_low: tuple[int, int]  # inclusive timestamp ranges scanned from raw rows
    edge_high: tuple[int, int]


def window(since: int | None, until: int | None) -> Window:
    lo = UNBOUNDED_LOW if since is None else since
    hi = UNBOUNDED_HIGH if until is None else until
    if lo > hi:
        return Window(0, 0, EMPTY, EMPTY)
    first = lo if since is None else -(-lo // BUCKET_SECONDS) * BUCKET_SECONDS
    end = hi if until is None else ((hi + 1) // BUCKET_SECONDS) * BUCKET_SECONDS
    if first >= end:
        return Window(0, 0, (lo, hi), EMPTY)
    # Either range is empty (low > high) when the window starts or ends on a minute.
    return Window(first, end, (lo, first - 1), (end, hi))
