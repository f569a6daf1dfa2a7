"""`GET /v1/metrics/path-lengths`: the distribution behind the mean and variance.

The dashboard draws it as a histogram next to `average_path_length` and
`path_length_variance` of `GET /v1/metrics/paths`, over the same paths (resolved ones whose
end time is in [since, until]).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from helpstream.api.deps import Pool
from helpstream.api.routes.paths import SinceQuery, UntilQuery, VariantQuery
from helpstream.api.windows import UNBOUNDED_HIGH, UNBOUNDED_LOW

router = APIRouter(tags=["paths"])

MAX_LENGTHS = 1000


class LengthCount(BaseModel):
    path_length: int = Field(description="Pages in the path.")
    paths: int = Field(description="Resolved paths of that length.")


class PathLengths(BaseModel):
    resolved_paths: int
    items: list[LengthCount] = Field(
        description="Ascending by length; lengths without paths are left out."
    )


@router.get(
    "/v1/metrics/path-lengths",
    response_model=PathLengths,
    summary="Path-length distribution of resolved paths (a histogram)",
    description="Resolved paths ending in [since, until] (inclusive, unix seconds) counted by "
    f"their length; at most the {MAX_LENGTHS} shortest lengths are listed.",
)
async def get_path_lengths(
    pool: Pool, variant: VariantQuery = None, since: SinceQuery = None, until: UntilQuery = None
) -> PathLengths:
    rows = await pool.fetch(
        """
        SELECT path_length, count(*) AS n
        FROM paths
        WHERE status = 'resolved' AND ($1::text IS NULL OR variant = $1)
          AND end_ts BETWEEN $2 AND $3
        GROUP BY path_length
        ORDER BY path_length
        LIMIT $4
        """,
        variant,
        UNBOUNDED_LOW if since is None else since,
        UNBOUNDED_HIGH if until is None else until,
        MAX_LENGTHS,
    )
    items = [LengthCount(path_length=r["path_length"], paths=r["n"]) for r in rows]
    return PathLengths(resolved_paths=sum(i.paths for i in items), items=items)
