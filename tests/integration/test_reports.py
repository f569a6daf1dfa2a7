"""The help-desk reports against hand-computed numbers, through the real API and workers.

A small help desk (six tickets) covering the seed SQL's defects: a ticket with one message
(0 h), Januaries of two years, a re-rated ticket, a reopened then re-resolved ticket, an
agent with no tickets, a resolved ticket no agent wrote on (the 0 bucket), an agent who
wrote several messages on one rated ticket, and a ticket reopened after its resolution.
The same events in three arrival orders, with duplicates, must give the same numbers.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

Event = dict[str, Any]


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _dataset() -> list[Event]:
    events: list[Event] = [
        {
            "type": "agent.upserted",
            "agent_id": 1,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.test",
            "phone": "555-0101",
        },
        {
            "type": "agent.upserted",
            "agent_id": 2,
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.test",
            "phone": 5550102,
        },
        {"type": "agent.upserted", "agent_id": 3, "first_name": "Alan", "last_name": "Turing"},
        {
            "type": "customer.upserted",
            "customer_id": 10,
            "first_name": "Cy",
            "last_name": "Ng",
            "email": "cy@example.test",
            "phone": None,
        },
        {"type": "customer.upserted", "customer_id": 11, "first_name": "Di", "last_name": "Ro"},
    ]
    message_id = iter(range(100, 1000))

    def ticket(tid: int, customer: int, category: str, opened: str) -> None:
        events.append(
            {
                "type": "ticket.opened",
                "ticket_id": tid,
                "customer_id": customer,
                "category": category,
                "timestamp": ts(opened),
            }
        )

    def msg(tid: int, sender: str, sender_id: int, at: str) -> None:
        events.append(
            {
                "type": "message.sent",
                "message_id": next(message_id),
                "ticket_id": tid,
                "sender_type": sender,
                "sender_id": sender_id,
                "timestamp": at + "Z",
                "text": f"{sender} {sender_id} on {tid}",
            }
        )

    def status(kind: str, tid: int, at: str, agent: int | None = None) -> None:
        event: Event = {"type": f"ticket.{kind}", "ticket_id": tid, "timestamp": ts(at)}
        if agent is not None:
            event["agent_id"] = agent
        events.append(event)

    def rate(tid: int, rating: int, at: str) -> None:
        events.append(
            {"type": "ticket.rated", "ticket_id": tid, "rating": rating, "timestamp": ts(at)}
        )

    # T1, January 2023: 09:00 → 12:00 = 3 h, agent 1 only, rated 5 then re-rated 2.
    ticket(1, 10, "Bug report", "2023-01-10T09:00")
    msg(1, "customer", 10, "2023-01-10T09:00")
    msg(1, "agent", 1, "2023-01-10T10:00")
    msg(1, "customer", 10, "2023-01-10T11:00")
    msg(1, "agent", 1, "2023-01-10T12:00")
    status("resolved", 1, "2023-01-10T12:30", agent=1)
    rate(1, 5, "2023-01-10T13:00")
    rate(1, 2, "2023-01-11T08:00")
    # T2, January 2024: 08:00 → 14:00 = 6 h, agents 1 and 2 (2 writes twice), rated 4.
    ticket(2, 11, "Wrong order", "2024-01-05T08:00")
    msg(2, "customer", 11, "2024-01-05T08:00")
    msg(2, "agent", 1, "2024-01-05T08:30")
    msg(2, "agent", 2, "2024-01-05T09:00")
    msg(2, "agent", 2, "2024-01-05T14:00")
    status("resolved", 2, "2024-01-05T14:10", agent=2)
    rate(2, 4, "2024-01-05T15:00")
    # T3, January 2024: one message (0 h), resolved by agent 2 who never wrote: 0 agents.
    ticket(3, 10, "Bug report", "2024-01-20T10:00")
    msg(3, "customer", 10, "2024-01-20T10:00")
    status("resolved", 3, "2024-01-20T10:05", agent=2)
    # T4, March 2023: resolved, reopened, resolved again; 10:00 → next day 12:00 = 26 h;
    # rated 1 after the first resolution, 3 after the second.
    ticket(4, 11, "Account access", "2023-03-01T10:00")
    msg(4, "customer", 11, "2023-03-01T10:00")
    msg(4, "agent", 2, "2023-03-01T11:00")
    status("resolved", 4, "2023-03-01T12:00", agent=2)
    rate(4, 1, "2023-03-01T12:30")
    status("reopened", 4, "2023-03-02T09:00")
    msg(4, "customer", 11, "2023-03-02T10:00")
    msg(4, "agent", 1, "2023-03-02T12:00")
    status("resolved", 4, "2023-03-02T13:00", agent=1)
    rate(4, 3, "2023-03-02T14:00")
    # T5, February 2024: still open, answered after 2 h, rated 5 anyway.
    ticket(5, 10, "Order cancellation", "2024-02-01T10:00")
    msg(5, "customer", 10, "2024-02-01T10:00")
    msg(5, "agent", 1, "2024-02-01T12:00")
    rate(5, 5, "2024-02-01T12:30")
    # T6, January 2023: resolved, then reopened (open now): in no resolved-ticket report.
    ticket(6, 11, "Undelivered goods", "2023-01-20T10:00")
    msg(6, "customer", 11, "2023-01-20T10:00")
    msg(6, "agent", 2, "2023-01-20T10:30")
    status("resolved", 6, "2023-01-20T11:00", agent=2)
    status("reopened", 6, "2023-01-21T09:00")
    return events


EXPECTED: dict[str, Any] = {
    "resolution-time": {
        "tickets": 4,
        "min_hours": 0.0,
        "avg_hours": 8.75,  # (3 + 6 + 0 + 26) / 4
        "max_hours": 26.0,
        "p50_hours": 4.5,  # between 3 and 6
        "p90_hours": 20.0,  # 6 + 0.7 · (26 − 6)
    },
    "agents-per-ticket": [
        {"number_of_agents": 0, "number_of_tickets": 1},
        {"number_of_agents": 1, "number_of_tickets": 1},
        {"number_of_agents": 2, "number_of_tickets": 2},
    ],
    "tickets-per-agent": [
        {"agent_id": 1, "agent": "Ada Lovelace", "number_of_tickets": 3},
        {"agent_id": 2, "agent": "Grace Hopper", "number_of_tickets": 2},
        {"agent_id": 3, "agent": "Alan Turing", "number_of_tickets": 0},
    ],
    "resolution-time-by-month": [
        {"month": "2023-01", "tickets": 1, "min_hours": 3.0, "avg_hours": 3.0, "max_hours": 3.0},
        {"month": "2023-03", "tickets": 1, "min_hours": 26.0, "avg_hours": 26.0, "max_hours": 26.0},
        {"month": "2024-01", "tickets": 2, "min_hours": 0.0, "avg_hours": 3.0, "max_hours": 6.0},
    ],
    "agent-ratings": [
        # T1 (2), T2 (4), T4 (3), T5 (5): each once, however many messages.
        {
            "agent_id": 1,
            "agent": "Ada Lovelace",
            "rated_tickets": 4,
            "min_rating": 2,
            "avg_rating": 3.5,
            "max_rating": 5,
        },
        # T2 (4), T4 (3); T6 is not rated.
        {
            "agent_id": 2,
            "agent": "Grace Hopper",
            "rated_tickets": 2,
            "min_rating": 3,
            "avg_rating": 3.5,
            "max_rating": 4,
        },
        {
            "agent_id": 3,
            "agent": "Alan Turing",
            "rated_tickets": 0,
            "min_rating": None,
            "avg_rating": None,
            "max_rating": None,
        },
    ],
    "first-response-time": {
        # T1 1 h, T2 0.5 h, T4 1 h, T5 2 h, T6 0.5 h; T3 has no agent message.
        "tickets": 5,
        "unanswered_tickets": 1,
        "min_hours": 0.5,
        "avg_hours": 1.0,
        "max_hours": 2.0,
        "p50_hours": 1.0,
        "p90_hours": 1.6,  # 1 + 0.6 · (2 − 1)
    },
    "csat": {"responses": 4, "satisfied": 2, "csat": 0.5},
}
REPORTS = tuple(EXPECTED)


async def _post_all(api: httpx.AsyncClient, events: list[Event], batch_size: int) -> None:
    for i in range(0, len(events), batch_size):
        chunk = events[i : i + batch_size]
        if len(chunk) == 1:
            response = await api.post("/v1/support-events", json=chunk[0])
        else:
            response = await api.post("/v1/support-events/batch", json={"events": chunk})
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": len(chunk)}


async def _reports(api: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    out = {}
    for name in REPORTS:
        response = await api.get(f"/v1/reports/{name}", params=params)
        assert response.status_code == 200, response.text
        out[name] = response.json()
    return out


def _approx(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, abs=1e-9)
    if isinstance(value, list):
        return [_approx(v) for v in value]
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    return value


async def _truncate_help_desk(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "TRUNCATE customers, agents, tickets, messages, ticket_agents, ticket_status_events,"
        " ticket_ratings"
    )


def _orders() -> list[tuple[str, list[Event], int]]:
    events = _dataset()
    rng = random.Random(20240601)
    shuffled = events + rng.sample(events, 15)  # 15 duplicates, then shuffled
    rng.shuffle(shuffled)
    reverse_dupes = events[::-1] + events[::3]
    return [
        ("chronological", events, 7),
        ("reversed with duplicates", reverse_dupes, 1),
        ("shuffled with duplicates", shuffled, 11),
    ]


async def test_reports_match_hand_computed_numbers_in_any_order(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    for label, events, batch_size in _orders():
        await _truncate_help_desk(pool)
        await _post_all(api, events, batch_size)
        await wait_drained(redis, pool, settings.partitions)
        assert await _reports(api) == _approx(EXPECTED), label


async def test_report_filters(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    await _post_all(api, _dataset(), 1000)
    await wait_drained(redis, pool, settings.partitions)

    bugs = await _reports(api, category="Bug report")  # T1 (3 h) and T3 (0 h)
    assert bugs["resolution-time"] == _approx(
        {
            "tickets": 2,
            "min_hours": 0.0,
            "avg_hours": 1.5,
            "max_hours": 3.0,
            "p50_hours": 1.5,
            "p90_hours": 2.7,
        }
    )
    assert bugs["agents-per-ticket"] == [
        {"number_of_agents": 0, "number_of_tickets": 1},
        {"number_of_agents": 1, "number_of_tickets": 1},
    ]
    assert [a["number_of_tickets"] for a in bugs["tickets-per-agent"]] == [1, 0, 0]
    assert bugs["csat"] == {"responses": 1, "satisfied": 0, "csat": 0.0}

    january = await _reports(api, **{"from": "2024-01-01", "to": "2024-01-31"})  # T2, T3
    assert january["resolution-time"]["tickets"] == 2
    assert january["resolution-time"]["avg_hours"] == pytest.approx(3.0)
    assert [m["month"] for m in january["resolution-time-by-month"]] == ["2024-01"]
    assert january["csat"] == {"responses": 1, "satisfied": 1, "csat": 1.0}
    assert january["first-response-time"]["tickets"] == 1
    assert january["first-response-time"]["unanswered_tickets"] == 1
    ratings = {a["agent_id"]: a["rated_tickets"] for a in january["agent-ratings"]}
    assert ratings == {1: 1, 2: 1, 3: 0}

    # `to` is inclusive of its whole day: T3's first message is 2024-01-20 10:00.
    day = await _reports(api, **{"from": "2024-01-20", "to": "2024-01-20"})
    assert day["resolution-time"]["tickets"] == 1
    assert day["resolution-time"]["max_hours"] == 0.0
    before = await _reports(api, **{"to": "2024-01-19"})
    assert before["resolution-time"]["tickets"] == 3  # T1, T4, T2
    # A date-time is an exact, inclusive instant.
    instant = await _reports(api, **{"from": "2024-01-20T10:00:00Z", "to": "2024-01-20T10:00Z"})
    assert instant["resolution-time"]["tickets"] == 1
    # Empty filter values (as a dashboard form sends them) mean no filter.
    assert await _reports(api, **{"from": "", "to": "", "category": ""}) == _approx(EXPECTED)

    empty = await _reports(api, **{"from": "2030-01-01"})
    assert empty["resolution-time"] == {
        "tickets": 0,
        "min_hours": None,
        "avg_hours": None,
        "max_hours": None,
        "p50_hours": None,
        "p90_hours": None,
    }
    assert empty["agents-per-ticket"] == []
    assert empty["resolution-time-by-month"] == []
    assert [a["number_of_tickets"] for a in empty["tickets-per-agent"]] == [0, 0, 0]
    assert empty["csat"] == {"responses": 0, "satisfied": 0, "csat": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "Bugs"}, "category"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2024-02-30"}, "to"),
        ({"from": "2024-02-01", "to": "2024-01-01"}, "to"),
    ],
)
async def test_bad_report_filters_are_422(
    api: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    for name in REPORTS:
        response = await api.get(f"/v1/reports/{name}", params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_a_month_is_a_calendar_month_in_utc(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """23:59:59 UTC on Dec 31 is December; one second later is January of the next year."""
    events: list[Event] = []
    for tid, first in ((1, "2023-12-31T23:59:59"), (2, "2024-01-01T00:00:00")):
        events += [
            {
                "type": "message.sent",
                "message_id": tid,
                "ticket_id": tid,
                "sender_type": "customer",
                "sender_id": 1,
                "timestamp": ts(first),
            },
            {
                "type": "message.sent",
                "message_id": 10 + tid,
                "ticket_id": tid,
                "sender_type": "agent",
                "sender_id": 7,
                "timestamp": ts(first) + 1800,
            },
            {"type": "ticket.resolved", "ticket_id": tid, "timestamp": ts(first) + 3600},
        ]
    await _post_all(api, events, 100)
    await wait_drained(redis, pool, settings.partitions)
    months = (await api.get("/v1/reports/resolution-time-by-month")).json()
    assert [(m["month"], m["tickets"], m["avg_hours"]) for m in months] == [
        ("2023-12", 1, 0.5),
        ("2024-01", 1, 0.5),
    ]
    # Agent 7 was never upserted: still a known agent, without a name.
    agents = (await api.get("/v1/reports/tickets-per-agent")).json()
    assert agents == [{"agent_id": 7, "agent": None, "number_of_tickets": 2}]
