"""The path rules of the contract (§3), as pure functions: no I/O, no clocks.

A customer's clicks, ordered by timestamp, fold into paths:

1. a path starts with the source page of its first click;
2. a click whose source differs from the path's last page inserts that page first
   (the customer navigated without a recorded click), then its target is appended;
3. a resolved click ends the path as ``resolved``;
4. a gap of more than ``timeout`` seconds ends the earlier path as ``abandoned``.

Clicks with equal timestamps are ordered so that the result does not depend on arrival
order: within one second, unresolved before resolved; then a click leaving the current
last page (the customer followed a chain of links), else one starting such a chain, else
the smallest by (source, target).

The fold is resumable: ``sessionize(clicks, timeout, tail=path)`` continues from a stored
path exactly as if that path's clicks had been folded together with ``clicks``, provided
every click in ``clicks`` is later than ``tail.end_ts``. The worker relies on that to
extend a customer's newest path without re-reading its raw clicks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Literal

from helpstream.events import Click

__all__ = [
    "Click",
    "CustomerLog",
    "Path",
    "PathStatus",
    "choose_cut",
    "close_if_idle",
    "is_late",
    "order_clicks",
    "sessionize",
    "turnaround_pages",
]

PathStatus = Literal["open", "resolved", "abandoned"]


@dataclass(slots=True)
class Path:
    """A customer's walk through the site, from a first click to resolution or abandonment."""

    customer_id: int
    variant: str
    start_ts: int
    end_ts: int
    pages: list[int] = field(default_factory=list)
    status: PathStatus = "open"

    @property
    def length(self) -> int:
        return len(self.pages)

    @property
    def turnaround_pages(self) -> list[int]:
        return turnaround_pages(self.pages)

    @property
    def has_turnaround(self) -> bool:
        return bool(self.turnaround_pages)

    @property
    def is_completed(self) -> bool:
        return self.status != "open"


def turnaround_pages(pages: list[int]) -> list[int]:
    """Pages B where the customer went A → B → A: position i with pages[i+1] == pages[i-1]."""
    return [pages[i] for i in range(1, len(pages) - 1) if pages[i + 1] == pages[i - 1]]


def _tie_order(group: list[Click], last_page: int | None) -> Iterator[Click]:
    """Order clicks sharing one timestamp independently of how they arrived.

    The clicks are taken one at a time: unresolved before resolved (a resolution ends the
    path); among those, the one leaving the current last page; else one starting a chain
    (its source is no other click's target); else the smallest by (source, target, variant).
    """
    remaining = sorted(group, key=lambda c: (c.resolved, c.source, c.target, c.variant))
    while remaining:
        want_resolved = remaining[0].resolved  # sorted: unresolved ones come first
        candidates = [c for c in remaining if c.resolved == want_resolved]
        chosen = next((c for c in candidates if c.source == last_page), None)
        if chosen is None:
            chosen = next(
                (c for c in candidates if all(o.target != c.source for o in remaining if o != c)),
                candidates[0],
            )
        remaining.remove(chosen)
        yield chosen
        last_page = None if chosen.resolved else chosen.target


def order_clicks(clicks: Iterable[Click]) -> list[Click]:
    """Clicks sorted by timestamp (ties are settled while folding).

    No de-duplication here: two events with different event_ids but equal content are two
    clicks. Duplicate deliveries are removed upstream, by event key.
    """
    return sorted(clicks, key=lambda c: c.timestamp)


def sessionize(clicks: Iterable[Click], timeout: int, tail: Path | None = None) -> list[Path]:
    """Fold one customer's clicks into paths, optionally continuing ``tail``.

    ``clicks`` may be in any order (duplicate deliveries already removed). When ``tail`` is
    given, every click must be later than ``tail.end_ts``; the result then starts with ``tail`` as
    continued (or unchanged, when it was resolved or the first click comes too late).
    The last path is ``open`` unless resolved; closing idle paths is ``close_if_idle``'s job.
    """
    ordered = order_clicks(clicks)
    if tail is not None and ordered and ordered[0].timestamp <= tail.end_ts:
        raise ValueError("clicks continuing a stored path must be later than its end")
    if not ordered:
        return [replace(tail, pages=list(tail.pages))] if tail is not None else []

    paths: list[Path] = []
    current: Path | None = None
    if tail is not None:
        current = replace(tail, pages=list(tail.pages))
        if current.status == "abandoned":
            current.status = "open"  # reopened if the next click comes within the timeout
        paths.append(current)

    for timestamp, same_second in groupby(ordered, key=lambda c: c.timestamp):
        group = list(same_second)
        continues = (
            current is not None
            and current.status == "open"
            and timestamp - current.end_ts <= timeout
        )
        last_page = current.pages[-1] if continues and current is not None else None
        for click in _tie_order(group, last_page):
            current = _apply(current, click, timeout, paths)
    return paths


def _apply(current: Path | None, click: Click, timeout: int, paths: list[Path]) -> Path:
    """Apply one click to the current path, starting a new one where the rules say so."""
    if (
        current is not None
        and current.status == "open"
        and click.timestamp - current.end_ts > timeout
    ):
        current.status = "abandoned"
    if current is None or current.status != "open":
        current = Path(
            customer_id=click.customer_id,
            variant=click.variant,
            start_ts=click.timestamp,
            end_ts=click.timestamp,
            pages=[click.source],
        )
        paths.append(current)
    elif click.source != current.pages[-1]:
        current.pages.append(click.source)
    current.pages.append(click.target)
    current.end_ts = click.timestamp
    if click.resolved:
        current.status = "resolved"
    return current


def close_if_idle(path: Path, stream_time: int | None, timeout: int) -> bool:
    """Close an open path as abandoned once ``timeout`` has passed on the event stream.

    Returns whether the path was closed. Wall-clock closing is decided by the caller,
    which knows when the last click arrived.
    """
    if path.status == "open" and stream_time is not None and stream_time - path.end_ts > timeout:
        path.status = "abandoned"
        return True
    return False


def is_late(timestamp: int, newest_seen: int | None, allowed_lateness: int) -> bool:
    """An event is late when it trails its customer's newest click by more than the bound."""
    return newest_seen is not None and timestamp < newest_seen - allowed_lateness


def choose_cut(paths: list[Path], earliest_new: int, timeout: int) -> int:
    """The time from which a customer's paths must be folded again to take in new clicks.

    ``paths`` are the customer's stored paths (oldest first; a newest-first suffix that
    reaches back far enough is enough). Every path starting at or after the cut is
    replaced by folding the customer's clicks from the cut on; every path before it ends
    strictly before the cut and cannot be touched by a click at or after ``earliest_new``.
    """
    cut = earliest_new
    for path in reversed(paths):
        if path.end_ts >= earliest_new - timeout or path.end_ts >= cut:
            cut = min(cut, path.start_ts)
        else:
            break
    return cut


@dataclass(slots=True)
class CustomerLog:
    """One customer's state, held in memory: the reference model of what the worker stores.

    The worker keeps the same state in PostgreSQL (clicks and paths tables) and applies the
    same two moves; property tests check this model against a single sorted fold.
    """

    timeout: int
    allowed_lateness: int
    clicks: set[Click] = field(default_factory=set)
    paths: list[Path] = field(default_factory=list)
    late: list[Click] = field(default_factory=list)

    @property
    def newest(self) -> int | None:
        return self.paths[-1].end_ts if self.paths else None

    def receive(self, batch: Iterable[Click]) -> None:
        """Take in a batch of clicks, in arrival order, duplicates included."""
        fresh: list[Click] = []
        newest = self.newest
        for click in batch:
            if click in self.clicks or click in self.late:
                continue
            if is_late(click.timestamp, newest, self.allowed_lateness):
                self.late.append(click)
                continue
            self.clicks.add(click)
            fresh.append(click)
            newest = click.timestamp if newest is None else max(newest, click.timestamp)
        if fresh:
            self._fold_in(fresh)

    def _fold_in(self, fresh: list[Click]) -> None:
        earliest = min(c.timestamp for c in fresh)
        if not self.paths or earliest > self.paths[-1].end_ts:
            tail = self.paths.pop() if self.paths else None
            self.paths.extend(sessionize(fresh, self.timeout, tail=tail))
            return
        cut = choose_cut(self.paths, earliest, self.timeout)
        kept = [p for p in self.paths if p.start_ts < cut]
        refold = [c for c in self.clicks if c.timestamp >= cut]
        self.paths = kept + sessionize(refold, self.timeout)
