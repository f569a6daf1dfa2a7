"""`?format=csv` (contract §8): any query's rows as `text/csv`, streamed.

Rows come from a server-side cursor inside a read-only transaction and leave in chunks, so
an export of millions of paths never sits in memory, neither here nor in PostgreSQL's
reply. Page lists (`path`) are joined with `>`; booleans are `true`/`false`; nulls are
empty fields. Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
`@`, tab or CR) is prefixed with `'` (OWASP's advice for CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Query
from fastapi.responses import StreamingResponse

ROWS_PER_CHUNK = 500

Format = Annotated[
    Literal["json", "csv"],
    Query(
        alias="format",
        description="`csv`: the same fields as `text/csv` (a header row; paths joined "
        "with `>`), streamed.",
    ),
]

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "field_a,field_b\r\n1,2\r\n",
            }
        },
        "description": "JSON, or with `format=csv` the same fields as CSV",
    }
}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: Any) -> Any:
    """One field as text a spreadsheet shows as data."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ">".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_chunk(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[csv_value(v) for v in row] for row in rows])
    return buffer.getvalue()


RowValues = Callable[[asyncpg.Record], Sequence[Any]]


def stream_csv(
    pool: asyncpg.Pool,
    filename: str,
    columns: Sequence[str],
    sql: str,
    args: Sequence[Any],
    values: RowValues | None = None,
) -> StreamingResponse:
    """A `text/csv` response of ``sql``'s rows; ``values`` picks a row's fields (default:
    the columns named ``columns``)."""
    pick = values or (lambda row: [row[c] for c in columns])

    async def body() -> AsyncIterator[str]:
        yield csv_chunk([columns])
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            batch: list[Sequence[Any]] = []
            async for row in conn.cursor(sql, *args, prefetch=ROWS_PER_CHUNK):
                batch.append(pick(row))
                if len(batch) >= ROWS_PER_CHUNK:
                    yield csv_chunk(batch)
                    batch = []
            if batch:
                yield csv_chunk(batch)

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
