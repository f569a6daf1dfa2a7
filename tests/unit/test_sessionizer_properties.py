"""Property tests for the sessionizer (api-contract §3, "Paths").

The main property is the contract's convergence promise: events arriving out of order by at
most ``allowed_lateness``, delivered more than once and in arbitrary batches, end up as the
paths the rules give on the complete, sorted, de-duplicated click list.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from helpstream.workers.sessionizer import (
    Click,
    CustomerLog,
    Path,
    close_if_idle,
    sessionize,
)

PathKey = tuple[int, str, int, int, list[int], str]

PAGES = st.integers(min_value=0, max_value=6)
VARIANTS = st.sampled_from(["a", "b"])
RESOLVED = st.integers(min_value=0, max_value=4).map(lambda n: n == 4)  # about one in five


def show(clicks: Iterable[Click]) -> str:
    """Compact form for failure reports: ts:customer:source->target[R]/variant."""
    return " ".join(
        f"{x.timestamp}:{x.customer_id}:{x.source}->{x.target}{'R' * x.resolved}/{x.variant}"
        for x in clicks
    )


def key(paths: Iterable[Path]) -> list[PathKey]:
    return [(p.customer_id, p.variant, p.start_ts, p.end_ts, p.pages, p.status) for p in paths]


def draw_clicks(
    draw: st.DrawFn, customer: int, timeout: int, *, distinct_ts: bool, max_clicks: int = 12
) -> list[Click]:
    """One customer's clicks in time order; gaps sometimes 0, sometimes beyond the timeout."""
    n = draw(st.integers(min_value=0, max_value=max_clicks))
    ts = draw(st.integers(min_value=0, max_value=100))
    low = 1 if distinct_ts else 0
    gaps = st.one_of(
        st.just(low),  # equal timestamps (or the next second)
        st.integers(min_value=low, max_value=2),
        st.integers(min_value=timeout - 1, max_value=timeout + 1),  # at the timeout boundary
        st.integers(min_value=timeout + 1, max_value=3 * timeout),  # beyond it
        st.integers(min_value=low, max_value=timeout),
    )
    clicks: list[Click] = []
    for i in range(n):
        if i:
            ts += draw(gaps)
        clicks.append(
            Click(
                timestamp=ts,
                customer_id=customer,
                source=draw(PAGES),
                target=draw(PAGES),
                resolved=draw(RESOLVED),
                variant=draw(VARIANTS),
            )
        )
    return clicks


def arrival_within_lateness(draw: st.DrawFn, clicks: list[Click], lateness: int) -> list[Click]:
    """An arrival order in which no click trails an earlier-arrived one by more than lateness.

    Each click gets a delay d in [0, lateness] and arrives at ts + d; equal arrival times are
    broken by a drawn permutation. Then some deliveries are repeated at a later point.
    """
    n = len(clicks)
    delays = draw(st.lists(st.integers(min_value=0, max_value=lateness), min_size=n, max_size=n))
    tiebreak = draw(st.permutations(range(n)))
    order = sorted(range(n), key=lambda i: (clicks[i].timestamp + delays[i], tiebreak[i]))
    sequence = [clicks[i] for i in order]
    if sequence:
        for _ in range(draw(st.integers(min_value=0, max_value=5))):
            original = draw(st.integers(min_value=0, max_value=len(sequence) - 1))
            at = draw(st.integers(min_value=original + 1, max_value=len(sequence)))
            sequence.insert(at, sequence[original])
    return sequence


def split_batches(draw: st.DrawFn, sequence: list[Click]) -> list[list[Click]]:
    if len(sequence) < 2:
        return [sequence]
    n = len(sequence)
    ends_batch = draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    bounds = [0, *(i + 1 for i, end in enumerate(ends_batch) if end), n]
    return [sequence[a:b] for a, b in pairwise(bounds)]


def feed(
    batches: list[list[Click]], customers: Iterable[int], timeout: int, lateness: int
) -> dict[int, CustomerLog]:
    logs = {cust: CustomerLog(timeout=timeout, allowed_lateness=lateness) for cust in customers}
    for batch in batches:
        for cust, log in logs.items():
            log.receive([x for x in batch if x.customer_id == cust])
    return logs


# --- a. convergence under bounded lateness, duplicates and batching ---------------------


@st.composite
def converging_streams(
    draw: st.DrawFn,
) -> tuple[int, int, dict[int, list[Click]], list[list[Click]]]:
    timeout = draw(st.integers(min_value=5, max_value=50))
    lateness = draw(st.integers(min_value=0, max_value=timeout))
    n_customers = draw(st.integers(min_value=1, max_value=3))
    per_customer = {
        cust: draw_clicks(draw, cust, timeout, distinct_ts=False) for cust in range(n_customers)
    }
    everything = [x for clicks in per_customer.values() for x in clicks]
    sequence = arrival_within_lateness(draw, everything, lateness)
    return timeout, lateness, per_customer, split_batches(draw, sequence)


@settings(max_examples=300, deadline=None)
@given(converging_streams())
def test_log_converges_to_single_sorted_fold(
    stream: tuple[int, int, dict[int, list[Click]], list[list[Click]]],
) -> None:
    timeout, lateness, per_customer, batches = stream
    note(f"timeout={timeout} lateness={lateness}")
    for n, batch in enumerate(batches):
        note(f"batch {n}: {show(batch)}")
    logs = feed(batches, per_customer, timeout, lateness)
    for cust, clicks in per_customer.items():
        log = logs[cust]
        assert log.late == []
        assert log.clicks == set(clicks)
        assert key(log.paths) == key(sessionize(set(clicks), timeout))


# --- b. independent reference for distinct timestamps -----------------------------------


def reference_paths(clicks: Iterable[Click], timeout: int) -> list[PathKey]:
    """Rules 1-4 written out directly: cut the timeline into segments, then lay out pages."""
    ordered = sorted(set(clicks), key=lambda x: x.timestamp)
    assert len({x.timestamp for x in ordered}) == len(ordered), "reference needs distinct ts"

    segments: list[list[Click]] = []
    for click in ordered:
        previous = segments[-1][-1] if segments else None
        continues = (
            previous is not None
            and not previous.resolved
            and click.timestamp - previous.timestamp <= timeout
        )
        if continues:
            segments[-1].append(click)
        else:
            segments.append([click])

    result: list[PathKey] = []
    for n, segment in enumerate(segments):
        pages = [segment[0].source]
        for click in segment:
            if pages[-1] != click.source:
                pages.append(click.source)
            pages.append(click.target)
        if segment[-1].resolved:
            status = "resolved"
        elif n == len(segments) - 1:
            status = "open"
        else:
            status = "abandoned"
        first, last = segment[0], segment[-1]
        result.append(
            (first.customer_id, first.variant, first.timestamp, last.timestamp, pages, status)
        )
    return result


def reference_turnarounds(pages: list[int]) -> list[int]:
    return [b for a, b, c in zip(pages, pages[1:], pages[2:], strict=False) if a == c]


@st.composite
def distinct_ts_clicks(draw: st.DrawFn) -> tuple[int, list[Click]]:
    timeout = draw(st.integers(min_value=5, max_value=50))
    return timeout, draw_clicks(draw, 7, timeout, distinct_ts=True, max_clicks=15)


@settings(max_examples=300, deadline=None)
@given(distinct_ts_clicks())
def test_sessionize_matches_naive_reference(case: tuple[int, list[Click]]) -> None:
    timeout, clicks = case
    paths = sessionize(clicks, timeout)
    assert key(paths) == reference_paths(clicks, timeout)
    for p in paths:
        assert p.length == len(p.pages)
        assert p.turnaround_pages == reference_turnarounds(p.pages)
        assert p.has_turnaround == bool(reference_turnarounds(p.pages))


@settings(max_examples=200, deadline=None)
@given(distinct_ts_clicks())
def test_distinct_ts_invariants(case: tuple[int, list[Click]]) -> None:
    timeout, clicks = case
    by_ts = {x.timestamp: x for x in clicks}
    paths = sessionize(clicks, timeout)
    assert sum(1 for p in paths if p.status == "resolved") == sum(x.resolved for x in clicks)
    for p in paths:
        first = by_ts[p.start_ts]
        assert p.pages[0] == first.source
        assert p.variant == first.variant
        inside = sorted(t for t in by_ts if p.start_ts <= t <= p.end_ts)
        # no gap of more than the timeout inside a path, and only the last click may resolve
        assert all(b - a <= timeout for a, b in pairwise(inside))
        assert not any(by_ts[t].resolved for t in inside[:-1])
        assert (p.status == "resolved") == by_ts[inside[-1]].resolved
        assert len(inside) + 1 <= p.length <= 2 * len(inside)


# --- c. invariants with ties -------------------------------------------------------------


@st.composite
def clicks_with_ties(draw: st.DrawFn) -> tuple[int, list[Click]]:
    timeout = draw(st.integers(min_value=5, max_value=50))
    clicks = draw_clicks(draw, 3, timeout, distinct_ts=False, max_clicks=15)
    # sometimes deliver some clicks twice: sessionize must ignore the copies
    extra = draw(st.lists(st.sampled_from(clicks), max_size=3)) if clicks else []
    return timeout, clicks + extra


@settings(max_examples=300, deadline=None)
@given(clicks_with_ties())
def test_path_invariants(case: tuple[int, list[Click]]) -> None:
    timeout, drawn = case
    clicks = list(dict.fromkeys(drawn))  # de-duplicated upstream, as the worker does
    distinct = set(clicks)
    paths = sessionize(clicks, timeout)
    assert bool(paths) == bool(distinct)
    assert key(sessionize(list(reversed(clicks)), timeout)) == key(paths)

    self_links = {x.source for x in distinct if x.source == x.target}
    total_length = 0
    for p in paths:
        at_start = [x for x in distinct if x.timestamp == p.start_ts]
        at_end = [x for x in distinct if x.timestamp == p.end_ts]
        assert p.customer_id == 3
        assert p.start_ts <= p.end_ts
        assert p.length == len(p.pages) >= 2
        assert p.pages[0] in {x.source for x in at_start}
        assert p.variant in {x.variant for x in at_start}
        assert p.pages[-1] in {x.target for x in at_end}
        if p.status == "resolved":
            assert any(x.resolved and x.target == p.pages[-1] for x in at_end)
        # a page repeats right after itself only through a self-link click
        for a, b in pairwise(p.pages):
            if a == b:
                assert a in self_links
        assert p.turnaround_pages == reference_turnarounds(p.pages)
        total_length += p.length

    # each click adds its target and at most one inserted source; each path adds its start
    assert len(distinct) + len(paths) <= total_length <= 2 * len(distinct)
    resolved_clicks = sum(1 for x in distinct if x.resolved)
    assert sum(1 for p in paths if p.status == "resolved") == resolved_clicks

    for p, q in pairwise(paths):
        assert p.end_ts <= q.start_ts
        if p.end_ts == q.start_ts:
            assert p.status == "resolved"
        assert p.status in ("resolved", "abandoned")
        if p.status == "abandoned":
            assert q.start_ts - p.end_ts > timeout
        if q.start_ts - p.end_ts <= timeout:
            assert p.status == "resolved"
    if paths:
        assert paths[-1].status in ("open", "resolved")


# --- d. resuming from a stored tail ------------------------------------------------------


@st.composite
def split_cases(draw: st.DrawFn) -> tuple[int, list[Click], int, int | None]:
    timeout = draw(st.integers(min_value=5, max_value=50))
    clicks = draw_clicks(draw, 5, timeout, distinct_ts=False, max_clicks=15)
    assume(clicks)
    split_at = draw(st.sampled_from(sorted({x.timestamp for x in clicks})))
    stream_time = draw(
        st.none() | st.integers(min_value=split_at - 3 * timeout, max_value=split_at + timeout)
    )
    return timeout, clicks, split_at, stream_time


@settings(max_examples=300, deadline=None)
@given(split_cases())
def test_tail_continuation_equals_full_fold(case: tuple[int, list[Click], int, int | None]) -> None:
    timeout, clicks, split_at, stream_time = case
    before = [x for x in clicks if x.timestamp < split_at]
    after = [x for x in clicks if x.timestamp >= split_at]

    stored = sessionize(before, timeout)
    tail = stored.pop() if stored else None
    if tail is not None:
        # the worker may have closed the stored path as idle in the meantime
        close_if_idle(tail, stream_time, timeout)
    snapshot = key([tail] if tail is not None else [])
    resumed = stored + sessionize(after, timeout, tail=tail)

    assert key(resumed) == key(sessionize(clicks, timeout))
    assert key([tail] if tail is not None else []) == snapshot  # the stored tail is not mutated


# --- e. events later than the bound -----------------------------------------------------


@st.composite
def streams_with_late_events(
    draw: st.DrawFn,
) -> tuple[int, int, list[Click], set[Click], list[list[Click]]]:
    timeout = draw(st.integers(min_value=5, max_value=50))
    lateness = draw(st.integers(min_value=0, max_value=timeout))
    clicks = sorted(
        set(draw_clicks(draw, 9, timeout, distinct_ts=False, max_clicks=15)),
        key=lambda x: (x.timestamp, x.source, x.target, x.resolved, x.variant),
    )
    newest = max((x.timestamp for x in clicks), default=0)
    candidates = [x for x in clicks if x.timestamp < newest - lateness]
    assume(candidates)
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
    on_time = [x for x in clicks if x not in chosen]
    assume(on_time)
    # still late once the chosen ones are taken out
    bound = max(x.timestamp for x in on_time) - lateness
    late = [x for x in chosen if x.timestamp < bound]
    assume(late)
    on_time += [x for x in chosen if x not in late]

    sequence = arrival_within_lateness(draw, on_time, lateness)
    # the late ones arrive after everything else, some of them twice
    tail = draw(st.permutations(late + draw(st.lists(st.sampled_from(late), max_size=2))))
    return timeout, lateness, on_time, set(late), split_batches(draw, sequence + tail)


@settings(max_examples=200, deadline=None)
@given(streams_with_late_events())
def test_late_events_are_kept_aside_and_not_applied(
    stream: tuple[int, int, list[Click], set[Click], list[list[Click]]],
) -> None:
    timeout, lateness, on_time, late, batches = stream
    note(f"timeout={timeout} lateness={lateness} late={show(late)}")
    for n, batch in enumerate(batches):
        note(f"batch {n}: {show(batch)}")
    log = feed(batches, [9], timeout, lateness)[9]
    assert set(log.late) == late
    assert len(log.late) == len(late)  # each late click stored once
    assert log.clicks == set(on_time)
    assert key(log.paths) == key(sessionize(on_time, timeout))
