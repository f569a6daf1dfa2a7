"""Per-minute rollups of completed paths, kept exact by adding and subtracting paths.

Whenever the worker replaces stored paths with re-folded ones, it subtracts the old
completed paths and adds the new ones in the same transaction, so metrics read from
rollups always equal a scan over the completed paths.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

from helpstream.constants import BUCKET_SECONDS
from helpstream.workers.sessionizer import Path, turnaround_pages


def bucket_of(timestamp: int) -> int:
    return timestamp - timestamp % BUCKET_SECONDS


@dataclass(slots=True)
class RollupDelta:
    """Changes to the rollup rows of one partition, accumulated over one batch."""

    partition: int
    paths: dict[tuple[str, int], list[int]] = field(default_factory=lambda: defaultdict(_zeros7))
    pages: dict[tuple[str, int, int], list[int]] = field(
        default_factory=lambda: defaultdict(_zeros4)
    )

    def add_path(self, path: Path, sign: int = 1) -> None:
        """Count (sign=1) or uncount (sign=-1) a path; open paths are not in rollups."""
        status = path.status
        if status == "open":
            return
        variant, bucket, pages = path.variant, bucket_of(path.end_ts), path.pages
        resolved = status == "resolved"
        turnarounds = turnaround_pages(pages)
        row = self.paths[(variant, bucket)]
        row[0] += sign
        row[1] += sign * resolved
        row[2] += sign * (not resolved)
        row[3] += sign * bool(turnarounds)
        if resolved:
            length = len(pages)
            row[4] += sign * length
            row[5] += sign * length * length
        page_rows = self.pages  # locals: this loop runs once per page of every path
        last = len(pages) - 1
        for position, page in enumerate(pages):
            page_row = page_rows[(variant, bucket, page)]
            page_row[0] += sign
            if position < last:
                page_row[1] += sign
        for page in turnarounds:
            page_rows[(variant, bucket, page)][2] += sign
        if resolved:
            page_rows[(variant, bucket, pages[-1])][3] += sign

    def add_late(self, variant: str, timestamp: int, count: int = 1) -> None:
        self.paths[(variant, bucket_of(timestamp))][6] += count

    async def write(self, conn: asyncpg.Connection) -> None:
        """Upsert the accumulated deltas: two set-based statements per batch."""
        path_rows = [(k, v) for k, v in self.paths.items() if any(v)]
        if path_rows:
            columns = list(zip(*(v for _, v in path_rows), strict=True))
            await conn.execute(
                _UPSERT_PATHS,
                [k[0] for k, _ in path_rows],
                [k[1] for k, _ in path_rows],
                self.partition,
                *[list(c) for c in columns],
            )
        page_rows = [(k, v) for k, v in self.pages.items() if any(v)]
        if page_rows:
            columns = list(zip(*(v for _, v in page_rows), strict=True))
            await conn.execute(
                _UPSERT_PAGES,
                [k[0] for k, _ in page_rows],
                [k[1] for k, _ in page_rows],
                self.partition,
                [k[2] for k, _ in page_rows],
                *[list(c) for c in columns],
            )


def _zeros7() -> list[int]:
    # completed, resolved, abandoned, turnaround_paths, length_sum, length_sumsq, late_events
    return [0] * 7


def _zeros4() -> list[int]:
    # visits, departures, turnarounds, resolutions
    return [0] * 4


_UPSERT_PATHS = """
INSERT INTO path_rollups AS r (variant, bucket, partition, completed, resolved, abandoned,
                               turnaround_paths, resolved_length_sum, resolved_length_sumsq,
                               late_events)
SELECT v, b, $3, c, rs, ab, tp, ls, lq, le
FROM unnest($1::text[], $2::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
            $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
     AS d(v, b, c, rs, ab, tp, ls, lq, le)
ON CONFLICT (variant, bucket, partition) DO UPDATE SET
    completed = r.completed + EXCLUDED.completed,
    resolved = r.resolved + EXCLUDED.resolved,
    abandoned = r.abandoned + EXCLUDED.abandoned,
    turnaround_paths = r.turnaround_paths + EXCLUDED.turnaround_paths,
    resolved_length_sum = r.resolved_length_sum + EXCLUDED.resolved_length_sum,
    resolved_length_sumsq = r.resolved_length_sumsq + EXCLUDED.resolved_length_sumsq,
    late_events = r.late_events + EXCLUDED.late_events
"""

_UPSERT_PAGES = """
INSERT INTO page_rollups AS r (variant, bucket, partition, page_id, visits, departures,
                               turnarounds, resolutions)
SELECT v, b, $3, pg, vi, de, tu, re
FROM unnest($1::text[], $2::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
            $7::bigint[], $8::bigint[]) AS d(v, b, pg, vi, de, tu, re)
ON CONFLICT (variant, bucket, partition, page_id) DO UPDATE SET
    visits = r.visits + EXCLUDED.visits,
    departures = r.departures + EXCLUDED.departures,
    turnarounds = r.turnarounds + EXCLUDED.turnarounds,
    resolutions = r.resolutions + EXCLUDED.resolutions
"""
