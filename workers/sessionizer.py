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

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
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


def _tie_order(group: list[Click], last_page: int | None) -> Iterable[Click]:
    """Order clicks sharing one timestamp independently of how they arrived.

    The clicks are taken one at a time: unresolved before resolved (a resolution ends the
    path); among those, the one leaving the current last page; else one starting a chain
    (its source is no other click's target); else the smallest by (source, target, variant).
    `_TieQueue` answers each of those questions in O(log n), so one customer's 10,000
    same-second clicks cost milliseconds, not a minute. Two clicks, by far the most common
    tie, are ordered directly (`_pair_order`): building the queue costs 10x as much.
    """
    if len(group) == 2:
        return _pair_order(group[0], group[1], last_page)
    return _queue_order(group, last_page)


def _pair_order(a: Click, b: Click, last_page: int | None) -> tuple[Click, Click]:
    """`_tie_order` of two clicks: only the first choice is a choice."""
    first, second = (a, b) if _tie_key(a) <= _tie_key(b) else (b, a)
    if first.resolved != second.resolved:  # the unresolved one (sorted first) goes first
        return first, second
    if first.source == last_page:
        return first, second
    if second.source == last_page:
        return second, first
    # A click starts a chain when the other click does not target its source (two equal
    # clicks are interchangeable, whichever goes first).
    if second.target != first.source:
        return first, second
    if first.target != second.source:
        return second, first
    return first, second


def _queue_order(group: list[Click], last_page: int | None) -> Iterator[Click]:
    queue = _TieQueue(group)
    for resolved in (False, True):
        while (chosen := queue.take(resolved, last_page)) is not None:
            yield chosen
            last_page = None if chosen.resolved else chosen.target


class _TieQueue:
    """The remaining clicks of one same-second group, indexed for `_tie_order`'s choices.

    Sort keys (resolved, source, target, variant) are numbered in order; each holds its
    clicks in arrival order (clicks differing only outside the key, e.g. in customer, are
    taken in that order, as a stable sort would). "Starts a chain" for a click c with source s means
    no *other* remaining click targets s: either nothing targets s, or the only value
    targeting s is c itself (a self-loop s -> s). Per class (unresolved/resolved) a lazy
    heap holds, for each source, the smallest chain start leaving it; entries are checked
    against the current state when popped and fresh ones pushed whenever a source's
    clicks or the clicks targeting it change.
    """

    def __init__(self, group: list[Click]) -> None:
        self.units: list[deque[Click]] = []  # by rank: the clicks of one sort key, in order
        self.rank: dict[tuple[bool, int, int, str], int] = {}
        for c in sorted(group, key=_tie_key):
            if _tie_key(c) not in self.rank:
                self.rank[_tie_key(c)] = len(self.units)
                self.units.append(deque())
            self.units[self.rank[_tie_key(c)]].append(c)
        self.count: dict[Click, int] = {}
        self.indeg: dict[int, int] = {}  # remaining clicks (with repeats) targeting a page
        self.targeting: dict[int, set[Click]] = {}  # remaining distinct clicks targeting it
        for c in group:
            self.count[c] = self.count.get(c, 0) + 1
            self.indeg[c.target] = self.indeg.get(c.target, 0) + 1
            self.targeting.setdefault(c.target, set()).add(c)
        self.by_source: dict[tuple[bool, int], list[int]] = {}  # heaps of ranks
        self.smallest: dict[bool, list[int]] = {False: [], True: []}  # heaps of ranks
        for rank, unit in enumerate(self.units):  # ranks ascending: already heaps
            self.by_source.setdefault((unit[0].resolved, unit[0].source), []).append(rank)
            self.smallest[unit[0].resolved].append(rank)
        self.starts: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
        for resolved, source in self.by_source:
            self._push_start(resolved, source)

    def take(self, resolved: bool, last_page: int | None) -> Click | None:
        """Remove and return the next click of class ``resolved`` by the tie rule."""
        if last_page is not None:
            rank = self._first_leaving(resolved, last_page)
            if rank is not None:
                return self._remove(rank)
        rank = self._first_start(resolved)
        if rank is None:
            rank = _heap_min(self.smallest[resolved], self._present)
        return None if rank is None else self._remove(rank)

    def _present(self, rank: int) -> bool:
        return bool(self.units[rank])

    def _first_leaving(self, resolved: bool, source: int) -> int | None:
        heap = self.by_source.get((resolved, source))
        return None if heap is None else _heap_min(heap, self._present)

    def _start_leaving(self, resolved: bool, source: int) -> int | None:
        """The smallest remaining click of the class leaving ``source`` that starts a chain."""
        if self.indeg.get(source, 0) == 0:
            return self._first_leaving(resolved, source)
        only = self.targeting[source]
        if len(only) == 1:
            (c,) = only
            if c.source == source and c.resolved == resolved:
                return self.rank[_tie_key(c)]
        return None

    def _push_start(self, resolved: bool, source: int) -> None:
        rank = self._start_leaving(resolved, source)
        if rank is not None:
            heapq.heappush(self.starts[resolved], (rank, source))

    def _first_start(self, resolved: bool) -> int | None:
        heap = self.starts[resolved]
        while heap:
            rank, source = heap[0]
            if self._start_leaving(resolved, source) == rank:
                return rank
            heapq.heappop(heap)
        return None

    def _remove(self, rank: int) -> Click:
        c = self.units[rank].popleft()
        self.count[c] -= 1
        self.indeg[c.target] -= 1
        if self.count[c] == 0:
            self.targeting[c.target].discard(c)
        self._push_start(c.resolved, c.source)  # what changed: c's source bucket ...
        self._push_start(False, c.target)  # ... and what targets c's target page
        self._push_start(True, c.target)
        return c


def _tie_key(c: Click) -> tuple[bool, int, int, str]:
    return (c.resolved, c.source, c.target, c.variant)


def _heap_min(heap: list[int], present: Callable[[int], bool]) -> int | None:
    """The smallest entry of a heap with lazy deletion (absent entries are dropped)."""
    while heap and not present(heap[0]):
        heapq.heappop(heap)
    return heap[0] if heap else None


def order_clicks(clicks: Iterable[Click]) -> list[Click]:
    """Clicks sorted by timestamp (ties are settled while folding).

    No de-duplication here: two events with different event_ids but equal content are two
    clicks. Duplicate deliveries are removed upstream, by event key.
    """
    return sorted(clicks, key=_timestamp)


_timestamp = attrgetter("timestamp")


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
        return [_copy(tail)] if tail is not None else []

    paths: list[Path] = []
    current: Path | None = None
    if tail is not None:
        current = _copy(tail)
        if current.status == "abandoned":
            current.status = "open"  # reopened if the next click comes within the timeout
        paths.append(current)

    if len(ordered) == 1:  # most customers in a batch: nothing to sort or group
        _apply(current, ordered[0], timeout, paths)
        return paths
    for timestamp, same_second in groupby(ordered, key=_timestamp):
        group = list(same_second)
        if len(group) == 1:  # no tie to settle (most seconds): skip building the queue
            current = _apply(current, group[0], timeout, paths)
            continue
        continues = (
            current is not None
            and current.status == "open"
            and timestamp - current.end_ts <= timeout
        )
        last_page = current.pages[-1] if continues and current is not None else None
        for click in _tie_order(group, last_page):
            current = _apply(current, click, timeout, paths)
    return paths


def _copy(path: Path) -> Path:
    """A copy whose pages can be extended (``dataclasses.replace`` costs 5x as much)."""
    return Path(
        path.customer_id, path.variant, path.start_ts, path.end_ts, list(path.pages), path.status
    )


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
