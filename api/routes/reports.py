"""The help-desk reports (contract §4): each one SQL query in `db/queries/report_*.sql`.

The queries read the per-ticket figures the worker maintains (`tickets`, `ticket_agents`),
so a report costs one pass over the matching tickets, never over their messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from helpstream.api.csv_export import CSV_RESPONSE, Format, stream_csv
from helpstream.api.deps import Pool
from helpstream.api.models_support import (
    AgentRating,
    AgentsPerTicket,
    Csat,
    FirstResponseTime,
    ResolutionTime,
    ResolutionTimeByMonth,
    TicketsPerAgent,
)
from helpstream.constants import CATEGORIES
from helpstream.db import query

router = APIRouter(prefix="/v1/reports", tags=["reports"])

FILTERS_DOC = (
    "\n\nFilters (all optional, combined with AND): `from` and `to` are ISO dates "
    "(`2024-01-31`) compared with the time of the ticket's **first message** (UTC); both "
    "are inclusive, so `to` covers that whole day. A full ISO date-time is taken as an "
    "exact instant (naive = UTC). With `from` or `to`, tickets without messages are left "
    "out. `category` is one of: " + ", ".join(CATEGORIES) + ". Empty values mean no filter."
)


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """The three SQL parameters every report query takes ($1, $2, $3)."""

    from_ts: int | None
    to_ts: int | None  # exclusive
    category: str | None

    @property
    def args(self) -> tuple[int | None, int | None, str | None]:
        return self.from_ts, self.to_ts, self.category


def _bad_query(name: str, message: str, value: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


def _instant(name: str, value: str | None, *, end: bool) -> int | None:
    """Unix seconds bounding the window; a bare date covers its whole day (UTC)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            return int(day.timestamp()) + (86_400 if end else 0)  # no overflow on 9999-12-31
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    except (ValueError, OverflowError):  # OverflowError: instants before year 1 (UTC)
        raise _bad_query(name, "must be an ISO date (YYYY-MM-DD) or date-time", value) from None
    # The instant itself is inside the window: `to` becomes the exclusive next second.
    return int(seconds) + 1 if end else -int(-seconds // 1)


def report_filters(
    from_: Annotated[
        str | None,
        Query(alias="from", description="First day (ISO date, inclusive), UTC."),
    ] = None,
    to: Annotated[
        str | None,
        Query(description="Last day (ISO date, inclusive: the whole day counts), UTC."),
    ] = None,
    category: Annotated[
        str | None, Query(description="Only tickets of this category.", examples=CATEGORIES)
    ] = None,
) -> ReportFilters:
    from_ts = _instant("from", from_, end=False)
    to_ts = _instant("to", to, end=True)
    if from_ts is not None and to_ts is not None and from_ts >= to_ts:
        raise _bad_query("to", "`to` must not be before `from`", to or "")
    if category is not None and not category.strip():
        category = None
    if category is not None and category not in CATEGORIES:
        raise _bad_query("category", "must be one of: " + ", ".join(CATEGORIES), category)
    return ReportFilters(from_ts, to_ts, category)


Filters = Annotated[ReportFilters, Depends(report_filters)]


M = TypeVar("M", bound=BaseModel)


async def _report(pool: Pool, name: str, filters: ReportFilters, model: type[M]) -> list[M]:
    """Run `db/queries/<name>.sql` with the filters; one `model` per row."""
    return [model(**dict(r)) for r in await pool.fetch(query(name), *filters.args)]


def _csv(pool: Pool, name: str, filters: ReportFilters, model: type[M]) -> StreamingResponse:
    """The same rows as `_report`, as streamed CSV (values as the JSON has them)."""
    columns = list(model.model_fields)
    return stream_csv(
        pool,
        name.removeprefix("report_").replace("_", "-"),
        columns,
        query(name),
        filters.args,
        lambda row: list(model(**dict(row)).model_dump().values()),
    )


@router.get(
    "/resolution-time",
    response_model=ResolutionTime,
    operation_id="get_resolution_time",
    responses=CSV_RESPONSE,
    summary="Ticket resolution time: min, average, max, p50, p90 (hours)",
    description="Over resolved tickets (current status resolved) with at least one message; "
    "a ticket's resolution time is its last message time minus its first message time, so "
    "a ticket with one message takes 0 h. Percentiles interpolate (`percentile_cont`); "
    "all figures are null when there are no tickets." + FILTERS_DOC,
)
async def resolution_time_endpoint(
    pool: Pool, filters: Filters, fmt: Format = "json"
) -> ResolutionTime | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_resolution_time", filters, ResolutionTime)
    return await resolution_time(pool, filters)


async def resolution_time(pool: Pool, filters: ReportFilters) -> ResolutionTime:
    """Report 1 as a model (also what the live metrics stream sends as `reports`)."""
    return (await _report(pool, "report_resolution_time", filters, ResolutionTime))[0]


@router.get(
    "/agents-per-ticket",
    response_model=list[AgentsPerTicket],
    responses=CSV_RESPONSE,
    summary="How many agents took part in resolved tickets",
    description="Resolved tickets grouped by the number of distinct agents who sent a "
    "message on them (0 for tickets no agent wrote on), ascending; counts that no ticket "
    "has are not listed." + FILTERS_DOC,
)
async def agents_per_ticket(
    pool: Pool, filters: Filters, fmt: Format = "json"
) -> list[AgentsPerTicket] | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_agents_per_ticket", filters, AgentsPerTicket)
    return await _report(pool, "report_agents_per_ticket", filters, AgentsPerTicket)


@router.get(
    "/tickets-per-agent",
    response_model=list[TicketsPerAgent],
    responses=CSV_RESPONSE,
    summary="Resolved tickets per agent",
    description="Every known agent (upserted, or seen as a message sender), "
    "ordered by agent_id, with the number of distinct resolved tickets they sent a message "
    'on (0 included). `agent` is "First Last", null for an agent never upserted.' + FILTERS_DOC,
)
async def tickets_per_agent(
    pool: Pool, filters: Filters, fmt: Format = "json"
) -> list[TicketsPerAgent] | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_tickets_per_agent", filters, TicketsPerAgent)
    return await _report(pool, "report_tickets_per_agent", filters, TicketsPerAgent)


@router.get(
    "/resolution-time-by-month",
    response_model=list[ResolutionTimeByMonth],
    responses=CSV_RESPONSE,
    summary="Resolution time per calendar month",
    description="Resolved tickets with at least one message, grouped by the calendar month "
    "(`YYYY-MM`, UTC) of their first message, ascending. Months of different years are "
    "never merged; months without tickets are not listed." + FILTERS_DOC,
)
async def resolution_time_by_month(
    pool: Pool, filters: Filters, fmt: Format = "json"
) -> list[ResolutionTimeByMonth] | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_resolution_time_by_month", filters, ResolutionTimeByMonth)
    return await _report(pool, "report_resolution_time_by_month", filters, ResolutionTimeByMonth)


@router.get(
    "/agent-ratings",
    response_model=list[AgentRating],
    responses=CSV_RESPONSE,
    summary="Ratings per agent",
    description="Every known agent (upserted, or seen as a message sender), ordered by "
    "agent_id: min / average / max of the current "
    "rating of the distinct rated tickets they sent a message on, each ticket counted once "
    "however many messages the agent sent (resolved or not). Nulls and 0 rated_tickets for "
    "agents without rated tickets." + FILTERS_DOC,
)
async def agent_ratings(
    pool: Pool, filters: Filters, fmt: Format = "json"
) -> list[AgentRating] | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_agent_ratings", filters, AgentRating)
    return await _report(pool, "report_agent_ratings", filters, AgentRating)


@router.get(
    "/first-response-time",
    response_model=FirstResponseTime,
    responses=CSV_RESPONSE,
    summary="First response time: ticket opened → first agent message (hours)",
    description="For each ticket with at least one agent message: the time from its "
    "opening (the `ticket.opened` timestamp; the first message time if that event is "
    "missing) to the first agent message, any status. A reply stamped before the opening "
    "counts as 0 h. min / average / max / p50 / p90 over those tickets; "
    "`unanswered_tickets` counts tickets with no agent message yet." + FILTERS_DOC,
)
async def first_response_time(
    pool: Pool, filters: Filters, fmt: Format = "json"
) -> FirstResponseTime | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_first_response_time", filters, FirstResponseTime)
    return (await _report(pool, "report_first_response_time", filters, FirstResponseTime))[0]


@router.get(
    "/csat",
    response_model=Csat,
    responses=CSV_RESPONSE,
    summary="Customer satisfaction: share of ratings 4–5",
    description="Over rated tickets, each counted once with its current (latest) rating, "
    "any status: `responses` = rated tickets, `satisfied` = those rated 4 or 5, `csat` = "
    "satisfied / responses (0..1, null without responses)." + FILTERS_DOC,
)
async def csat(pool: Pool, filters: Filters, fmt: Format = "json") -> Csat | StreamingResponse:
    if fmt == "csv":
        return _csv(pool, "report_csat", filters, Csat)
    return (await _report(pool, "report_csat", filters, Csat))[0]
