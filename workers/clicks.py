"""Apply a batch of click events to PostgreSQL: store, sessionize, roll up.

Runs inside the worker's transaction for one partition, so everything here commits
together with the partition's stream offset, or not at all. The path rules themselves
are in `workers.sessionizer`, storing the raw clicks exactly once in `workers.click_store`,
storing paths (open ones in place) in `workers.path_store`; this module moves state
between PostgreSQL and them:

* fast path (in-order clicks): a customer's newest stored path is continued;
* slow path (a click older than the newest path's end): the customer's paths from a cut
  (`choose_cut`) on are folded again from the stored raw clicks.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

from helpstream.constants import DEFAULT_MAX_FUTURE_SKEW
from helpstream.events import Click, ClickEvent
from helpstream.workers.click_store import RepeatedKeys, first_deliveries, store_new_clicks
from helpstream.workers.path_store import (
    PATH_COLUMNS,
    OpenPathEnds,
    close_ended,
    fetch_tails,
    path_from_row,
    replace_paths,
)
from helpstream.workers.rollups import RollupDelta
from helpstream.workers.sessionizer import Path, choose_cut, close_if_idle, sessionize


@dataclass(slots=True)
class ClickSettings:
    partition: int
    path_timeout: int
    allowed_lateness: int
    max_future_skew: int = DEFAULT_MAX_FUTURE_SKEW
    repeats: RepeatedKeys = field(default_factory=RepeatedKeys)
    ends: OpenPathEnds | None = None  # where the partition's open paths end; None: not loaded


async def owned_ends(conn: asyncpg.Connection, cfg: ClickSettings) -> OpenPathEnds:
    """The partition's `OpenPathEnds`, loaded afresh unless the last change to it committed.

    Marked unconfirmed until this transaction commits (`ClickHandler.committed`).
    """
    if cfg.ends is None or not cfg.ends.confirmed:
        cfg.ends = await OpenPathEnds.load(conn, cfg.partition)
    cfg.ends.confirmed = False
    return cfg.ends


async def apply_clicks(
    conn: asyncpg.Connection,
    events: list[ClickEvent],
    cfg: ClickSettings,
    stream_time: int | None,
) -> int | None:
    """Apply one batch (in arrival order); returns the partition's new stream time."""
    ends = await owned_ends(conn, cfg)
    candidates = first_deliveries(events)
    customers = sorted({e.click.customer_id for e in candidates})
    tails = {p.customer_id: (path_id, p) for path_id, p in await fetch_tails(conn, customers)}
    fresh, late_flags = await store_new_clicks(
        conn, candidates, tails, cfg.allowed_lateness, cfg.repeats
    )

    delta = RollupDelta(cfg.partition)
    fresh_by_customer: dict[int, list[Click]] = defaultdict(list)
    late_count = 0
    for event, late in zip(fresh, late_flags, strict=True):
        if late:
            late_count += 1
            delta.add_late(event.click.variant, event.click.timestamp)
        else:
            fresh_by_customer[event.click.customer_id].append(event.click)

    new_time = _bounded(
        max(
            [c.timestamp for cs in fresh_by_customer.values() for c in cs]
            + ([stream_time] if stream_time is not None else []),
            default=None,
        ),
        cfg.max_future_skew,
    )
    replaced: list[tuple[int, Path]] = []
    new_paths: list[Path] = []
    slow: dict[int, list[Click]] = {}
    for customer_id, clicks in fresh_by_customer.items():
        tail_entry = tails.get(customer_id)
        earliest = min(c.timestamp for c in clicks)
        if tail_entry is None or _tail_is_final(tail_entry[1], earliest, cfg.path_timeout):
            new_paths.extend(sessionize(clicks, cfg.path_timeout))
        elif earliest > tail_entry[1].end_ts:
            replaced.append(tail_entry)
            delta.add_path(tail_entry[1], -1)
            new_paths.extend(sessionize(clicks, cfg.path_timeout, tail=tail_entry[1]))
        else:
            slow[customer_id] = clicks
    if slow:
        removed, refolded = await _refold(conn, slow, cfg.path_timeout)
        replaced.extend(removed)
        for _, path in removed:
            delta.add_path(path, -1)
        new_paths.extend(refolded)

    event_time = await stream_event_time(conn, new_time, cfg.max_future_skew)
    for path in new_paths:
        close_if_idle(path, event_time, cfg.path_timeout)
        delta.add_path(path, +1)
    await replace_paths(conn, replaced, new_paths, cfg.partition, ends)
    if event_time is not None:
        for path in await close_ended(conn, cfg.partition, ends, event_time - cfg.path_timeout):
            delta.add_path(path, +1)
    await delta.write(conn)
    if late_count:  # the running total GET /metrics reads (in this same transaction)
        await conn.execute(
            "UPDATE stream_offsets SET late_events = late_events + $2"
            " WHERE partition = $1 AND stream = 'clicks'",
            cfg.partition,
            late_count,
        )
    return new_time


async def stream_event_time(
    conn: asyncpg.Connection,
    partition_time: int | None,
    max_future_skew: int = DEFAULT_MAX_FUTURE_SKEW,
) -> int | None:
    """How far event time has got on the whole click stream (every partition).

    Idle paths close once ``path_timeout`` has passed on the event stream, not only on their
    own partition: a customer's path should not stay open because nobody else hashed to
    its partition. Never beyond this worker's clock + ``max_future_skew``: the API rejects
    such timestamps, and an entry buffered before (or by another writer) must not close
    everybody's paths either.
    """
    newest: int | None = await conn.fetchval(
        "SELECT max(stream_time) FROM stream_offsets WHERE stream = 'clicks'"
    )
    known = [t for t in (newest, partition_time) if t is not None]
    return _bounded(max(known), max_future_skew) if known else None


def _bounded(event_time: int | None, max_future_skew: int) -> int | None:
    """Event time, but no further ahead of the wall clock than the skew allows."""
    if event_time is None:
        return None
    return min(event_time, int(time.time()) + max_future_skew)


def _tail_is_final(tail: Path, earliest: int, timeout: int) -> bool:
    """True when clicks from ``earliest`` on cannot change the customer's newest path."""
    if earliest <= tail.end_ts:
        return False
    return tail.status == "resolved" or (
        tail.status == "abandoned" and earliest - tail.end_ts > timeout
    )


async def _refold(
    conn: asyncpg.Connection, slow: dict[int, list[Click]], path_timeout: int
) -> tuple[list[tuple[int, Path]], list[Path]]:
    """Re-fold out-of-order customers from their cut: ((path_id, path) removed, new paths)."""
    customers = list(slow)
    earliest = [min(c.timestamp for c in slow[cid]) for cid in customers]
    rows = await conn.fetch(
        f"""
        SELECT {PATH_COLUMNS} FROM paths p
        JOIN unnest($1::bigint[], $2::bigint[]) AS n(customer_id, earliest) USING (customer_id)
        WHERE p.end_ts >= n.earliest - $3
        ORDER BY customer_id, start_ts, path_id
        """,
        customers,
        earliest,
        path_timeout,
    )
    candidates: dict[int, list[tuple[int, Path]]] = defaultdict(list)
    for row in rows:
        path_id, path = path_from_row(row)
        candidates[path.customer_id].append((path_id, path))

    cuts: list[int] = []
    for cid, first in zip(customers, earliest, strict=True):
        cands = candidates[cid]
        cut = choose_cut([p for _, p in cands], first, path_timeout)
        while True:  # an older path ending exactly at the cut (same-second ties) joins in
            older = await conn.fetch(
                f"SELECT {PATH_COLUMNS} FROM paths WHERE customer_id = $1"
                " AND start_ts < $2 AND end_ts >= $2 ORDER BY start_ts, path_id",
                cid,
                cut,
            )
            known = {pid for pid, _ in cands}
            extra = [path_from_row(r) for r in older if r["path_id"] not in known]
            if not extra:
                break
            cands = sorted(extra + cands, key=lambda e: (e[1].start_ts, e[0]))
            cut = choose_cut([p for _, p in cands], first, path_timeout)
        candidates[cid] = [(pid, p) for pid, p in cands if p.start_ts >= cut]
        cuts.append(cut)

    click_rows = await conn.fetch(
        """
        SELECT c.customer_id, c.ts, c.source_page_id, c.target_page_id, c.is_resolved, c.variant
        FROM clicks c
        JOIN unnest($1::bigint[], $2::bigint[]) AS n(customer_id, cut) USING (customer_id)
        WHERE NOT c.late AND c.ts >= n.cut
        """,
        customers,
        cuts,
    )
    clicks_by_customer: dict[int, list[Click]] = defaultdict(list)
    for r in click_rows:
        clicks_by_customer[r["customer_id"]].append(
            Click(
                r["ts"],
                r["customer_id"],
                r["source_page_id"],
                r["target_page_id"],
                r["is_resolved"],
                r["variant"],
            )
        )
    removed = [entry for cid in customers for entry in candidates[cid]]
    refolded = [p for cid in customers for p in sessionize(clicks_by_customer[cid], path_timeout)]
    return removed, refolded
