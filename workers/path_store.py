"""Store a partition's paths: completed ones in `completed_paths`, open ones in `open_paths`.

Runs inside the worker's transaction for one partition (see `workers.clicks`). A customer
has at most one open path, its newest. Advancing it is an UPDATE in place that PostgreSQL
can do as a HOT update (no index holds a column that changes as a path grows): rewriting
it as a new row cost a tuple, three index entries and a dead tuple per click (issue 16).
A completed path is appended and, unless an out-of-order click re-folds it, never
rewritten. `paths` is a view of both tables, for readers.

Without an index on where open paths end, idle closing (every batch) asks the owner of
the partition, which keeps that in memory: `OpenPathEnds`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from helpstream.workers.sessionizer import Path

# The columns `path_from_row` reads, in its order.
PATH_COLUMNS = "path_id, customer_id, variant, start_ts, end_ts, pages, status"
_OPEN_COLUMNS = "path_id, customer_id, variant, start_ts, end_ts, pages, 'open'::text"


def path_from_row(row: asyncpg.Record) -> tuple[int, Path]:
    """A row of `PATH_COLUMNS`, read by position: it runs once per customer per batch.

    asyncpg decodes an array into a new list, so the path may own it without a copy.
    """
    path_id, customer_id, variant, start_ts, end_ts, pages, status = row
    return path_id, Path(customer_id, variant, start_ts, end_ts, pages, status)


@dataclass(slots=True)
class OpenPathEnds:
    """Where each open path of one partition ends (event time), kept by its owner.

    It tells idle closing which customers' open paths have ended before a bound, so that
    PostgreSQL needs no index on a column that every click changes. It stays exact because
    only the partition's owner writes its open paths, and every one of those writes goes
    through here. It is loaded inside a fenced transaction; `confirmed` is cleared while a
    transaction changes it and set again once that transaction commits, so after a failed
    one it is loaded afresh (`ClickHandler`).
    """

    _end: dict[int, int] = field(default_factory=dict)  # customer -> end_ts
    _by_end: dict[int, set[int]] = field(default_factory=dict)  # end_ts -> customers
    _heap: list[int] = field(default_factory=list)  # the keys of _by_end, a heap
    confirmed: bool = True

    @classmethod
    async def load(cls, conn: asyncpg.Connection, partition: int) -> OpenPathEnds:
        ends = cls()
        rows = await conn.fetch(
            "SELECT customer_id, end_ts FROM open_paths WHERE partition = $1", partition
        )
        for customer_id, end_ts in rows:
            ends.set(customer_id, end_ts)
        return ends

    def as_dict(self) -> dict[int, int]:
        """Customer -> end_ts of every open path it knows (a copy)."""
        return dict(self._end)

    def set(self, customer_id: int, end_ts: int) -> None:
        old = self._end.get(customer_id)
        if old == end_ts:
            return
        if old is not None:
            self._by_end[old].discard(customer_id)
        self._end[customer_id] = end_ts
        customers = self._by_end.get(end_ts)
        if customers is None:
            customers = self._by_end[end_ts] = set()
            heapq.heappush(self._heap, end_ts)
        customers.add(customer_id)

    def discard(self, customer_id: int) -> None:
        old = self._end.pop(customer_id, None)
        if old is not None:
            self._by_end[old].discard(customer_id)

    def pop_ended_before(self, bound: int) -> list[int]:
        """The customers whose open path ended before ``bound``, forgotten here: they close."""
        found: list[int] = []
        while self._heap and self._heap[0] < bound:
            for customer_id in self._by_end.pop(heapq.heappop(self._heap), ()):
                del self._end[customer_id]
                found.append(customer_id)
        return found


async def fetch_tails(conn: asyncpg.Connection, customers: list[int]) -> list[tuple[int, Path]]:
    """Each customer's newest path: the open one, else the newest completed one."""
    rows = await conn.fetch(
        f"""
        SELECT {_OPEN_COLUMNS} FROM open_paths WHERE customer_id = ANY($1::bigint[])
        UNION ALL
        SELECT newest.* FROM unnest($1::bigint[]) AS c(customer_id)
        CROSS JOIN LATERAL (
            SELECT {PATH_COLUMNS} FROM completed_paths p
            WHERE p.customer_id = c.customer_id
              AND NOT EXISTS (SELECT 1 FROM open_paths o WHERE o.customer_id = c.customer_id)
            ORDER BY p.start_ts DESC, p.path_id DESC
            LIMIT 1
        ) AS newest
        """,
        customers,
    )
    return [path_from_row(r) for r in rows]


async def replace_paths(
    conn: asyncpg.Connection,
    removed: list[tuple[int, Path]],
    paths: list[Path],
    partition: int,
    ends: OpenPathEnds,
) -> None:
    """Replace the stored paths ``removed`` (path_id, path) with ``paths``.

    A customer whose open path is replaced by an open one keeps its row (and path_id):
    updated in place. ``ends`` follows every change to the partition's open paths.
    """
    removed_open = {p.customer_id for _, p in removed if p.status == "open"}
    removed_completed = [path_id for path_id, p in removed if p.status != "open"]
    advanced: list[Path] = []
    opened: list[Path] = []
    completed: list[Path] = []
    for path in paths:
        if path.status != "open":
            completed.append(path)
        elif path.customer_id in removed_open:
            advanced.append(path)
        else:
            opened.append(path)
    closed_open = removed_open.difference(p.customer_id for p in advanced)
    if removed_completed:
        await conn.execute(
            "DELETE FROM completed_paths WHERE path_id = ANY($1::bigint[])", removed_completed
        )
    if closed_open:
        await conn.execute(
            "DELETE FROM open_paths WHERE customer_id = ANY($1::bigint[])", list(closed_open)
        )
        for customer_id in closed_open:
            ends.discard(customer_id)
    if advanced:
        await _advance_open(conn, advanced)
    if opened:
        await conn.copy_records_to_table(
            "open_paths",
            records=[_row(p, partition) for p in opened],
            columns=_INSERT_COLUMNS,
        )
    for path in advanced + opened:
        ends.set(path.customer_id, path.end_ts)
    if completed:
        await conn.copy_records_to_table(
            "completed_paths",
            records=[(*_row(p, partition), p.status) for p in completed],
            columns=[*_INSERT_COLUMNS, "status"],
        )


def _row(p: Path, partition: int) -> tuple[Any, ...]:
    """The columns both path tables have, in `_INSERT_COLUMNS` order."""
    return (
        p.customer_id,
        partition,
        p.variant,
        p.start_ts,
        p.end_ts,
        p.pages,
        len(p.pages),
        p.has_turnaround,
    )


async def _advance_open(conn: asyncpg.Connection, paths: list[Path]) -> None:
    """Rewrite open rows in place. The pages travel as one flat array with each row's
    bounds: an array of arrays must be rectangular."""
    flat: list[int] = []
    lows: list[int] = []
    highs: list[int] = []
    for p in paths:
        lows.append(len(flat) + 1)
        flat.extend(p.pages)
        highs.append(len(flat))
    await conn.execute(
        """
        UPDATE open_paths o SET
            variant = u.variant, start_ts = u.start_ts, end_ts = u.end_ts,
            pages = ($6::bigint[])[u.lo:u.hi], path_length = u.hi - u.lo + 1,
            has_turnaround = u.turnaround, last_arrival_at = now()
        FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::boolean[],
                    $7::integer[], $8::integer[])
             AS u(customer_id, variant, start_ts, end_ts, turnaround, lo, hi)
        WHERE o.customer_id = u.customer_id
        """,
        [p.customer_id for p in paths],
        [p.variant for p in paths],
        [p.start_ts for p in paths],
        [p.end_ts for p in paths],
        [p.has_turnaround for p in paths],
        flat,
        lows,
        highs,
    )


_INSERT_COLUMNS = [
    "customer_id",
    "partition",
    "variant",
    "start_ts",
    "end_ts",
    "pages",
    "path_length",
    "has_turnaround",
]

# Moves the open rows chosen by $1.. to completed_paths as abandoned (same path_id).
_ABANDON = f"""
    WITH closed AS (
        DELETE FROM open_paths WHERE {{condition}}
        RETURNING path_id, customer_id, partition, variant, start_ts, end_ts, pages,
                  path_length, has_turnaround, last_arrival_at
    )
    INSERT INTO completed_paths (path_id, customer_id, partition, variant, start_ts, end_ts,
                                 pages, path_length, status, has_turnaround, last_arrival_at)
    SELECT path_id, customer_id, partition, variant, start_ts, end_ts, pages, path_length,
           'abandoned', has_turnaround, last_arrival_at
    FROM closed
    RETURNING {PATH_COLUMNS}
"""


async def close_ended(
    conn: asyncpg.Connection, partition: int, ends: OpenPathEnds, ended_before: int
) -> list[Path]:
    """Close the partition's open paths that ended before ``ended_before`` (event time)."""
    customers = ends.pop_ended_before(ended_before)
    if not customers:
        return []
    rows = await conn.fetch(
        _ABANDON.format(
            condition="customer_id = ANY($1::bigint[]) AND partition = $2 AND end_ts < $3"
        ),
        customers,
        partition,
        ended_before,
    )
    return [path_from_row(r)[1] for r in rows]


async def close_quiet(
    conn: asyncpg.Connection,
    partition: int,
    ends: OpenPathEnds,
    ended_before: int | None,
    quiet_seconds: float,
) -> list[Path]:
    """The periodic sweep: close paths idle on the event stream or on the wall clock.

    Wall clock: no click has arrived for ``quiet_seconds``, so a quiet stream still closes
    its paths. A scan of the partition's open paths, every few seconds.
    """
    rows = await conn.fetch(
        _ABANDON.format(
            condition="partition = $1 AND (end_ts < $2"
            " OR last_arrival_at < now() - make_interval(secs => $3))"
        ),
        partition,
        ended_before if ended_before is not None else -(2**62),
        quiet_seconds,
    )
    closed = [path_from_row(r)[1] for r in rows]
    for path in closed:
        ends.discard(path.customer_id)
    return closed
