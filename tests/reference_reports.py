"""An independent, plain-Python reading of the contract's report definitions (§4).

Used as the oracle for larger datasets (the demo, shuffled and duplicated): it shares no
code with the SQL, so agreement on thousands of tickets means both read the contract alike.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RANK = {"ticket.opened": 0, "ticket.resolved": 1, "ticket.reopened": 2}


def _ts(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


@dataclass
class _Ticket:
    category: str | None = None
    opened: tuple[int, str, int] | None = None
    status: tuple[int, int] = (-1, -1)
    rating: tuple[int, int] | None = None
    times: list[int] = field(default_factory=list)
    agent_times: list[int] = field(default_factory=list)
    agents: set[int] = field(default_factory=set)

    @property
    def resolved(self) -> bool:
        return self.status[1] == RANK["ticket.resolved"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _stats(seconds: list[int], percentiles: bool) -> dict[str, Any]:
    hours = [s / 3600 for s in seconds]
    out: dict[str, Any] = {
        "tickets": len(hours),
        "min_hours": min(hours) if hours else None,
        "avg_hours": sum(seconds) / len(seconds) / 3600 if seconds else None,
        "max_hours": max(hours) if hours else None,
    }
    if percentiles:
        out["p50_hours"] = _percentile(hours, 0.5) if hours else None
        out["p90_hours"] = _percentile(hours, 0.9) if hours else None
    return out


def reports(
    events: list[dict[str, Any]],
    from_ts: int | None = None,
    to_ts: int | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """All seven reports; ``to_ts`` is exclusive, like the API's end of the `to` day."""
    tickets: dict[int, _Ticket] = defaultdict(_Ticket)
    names: dict[int, tuple[tuple[int, str], str | None]] = {}
    seen_messages: set[int] = set()
    for e in events:
        kind = e["type"]
        if kind == "agent.upserted":
            version = (_ts(e["timestamp"]) if e.get("timestamp") is not None else -1, repr(e))
            name = f"{e['first_name']} {e['last_name']}"
            if e["agent_id"] not in names or version > names[e["agent_id"]][0]:
                names[e["agent_id"]] = (version, name)
            continue
        if kind == "customer.upserted":
            continue
        t = tickets[e["ticket_id"]]
        ts = _ts(e["timestamp"])
        if kind == "ticket.opened":
            candidate = (ts, e["category"], e["customer_id"])
            if t.opened is None or candidate < t.opened:
                t.opened = candidate
                t.category = e["category"]
        if kind in RANK:
            t.status = max(t.status, (ts, RANK[kind]))
        elif kind == "ticket.rated":
            t.rating = max(t.rating or (-1, 0), (ts, e["rating"]))
        elif kind == "message.sent" and e["message_id"] not in seen_messages:
            seen_messages.add(e["message_id"])
            t.times.append(ts)
            if e["sender_type"] == "agent":
                t.agent_times.append(ts)
                t.agents.add(e["sender_id"])
                names.setdefault(e["sender_id"], ((-2, ""), None))

    def selected(t: _Ticket) -> bool:
        first = min(t.times) if t.times else None
        if from_ts is not None and (first is None or first < from_ts):
            return False
        if to_ts is not None and (first is None or first >= to_ts):
            return False
        return category is None or t.category == category

    chosen = {tid: t for tid, t in tickets.items() if selected(t)}
    resolved = {tid: t for tid, t in chosen.items() if t.resolved}
    with_messages = [t for t in resolved.values() if t.times]

    per_agents: dict[int, int] = defaultdict(int)
    for t in resolved.values():
        per_agents[len(t.agents)] += 1

    months: dict[str, list[int]] = defaultdict(list)
    for t in with_messages:
        month = datetime.fromtimestamp(min(t.times), UTC).strftime("%Y-%m")
        months[month].append(max(t.times) - min(t.times))

    tickets_per_agent = []
    agent_ratings = []
    for agent_id in sorted(names):
        name = names[agent_id][1] or ""
        mine = [tid for tid, t in resolved.items() if agent_id in t.agents]
        tickets_per_agent.append(
            {"agent_id": agent_id, "agent": name, "number_of_tickets": len(mine)}
        )
        ratings = [
            t.rating[1] for t in chosen.values() if agent_id in t.agents and t.rating is not None
        ]
        agent_ratings.append(
            {
                "agent_id": agent_id,
                "agent": name,
                "rated_tickets": len(ratings),
                "min_rating": min(ratings) if ratings else None,
                "avg_rating": sum(ratings) / len(ratings) if ratings else None,
                "max_rating": max(ratings) if ratings else None,
            }
        )

    responses = []
    unanswered = 0
    for t in chosen.values():
        if t.opened is None and not t.times:
            continue
        if not t.agent_times:
            unanswered += 1
            continue
        opened = t.opened[0] if t.opened is not None else min(t.times)
        responses.append(max(0, min(t.agent_times) - opened))
    first_response = _stats(responses, percentiles=True)
    first_response["unanswered_tickets"] = unanswered

    rated = [t.rating[1] for t in chosen.values() if t.rating is not None]
    satisfied = sum(1 for r in rated if r >= 4)
    return {
        "resolution-time": _stats([max(t.times) - min(t.times) for t in with_messages], True),
        "agents-per-ticket": [
            {"number_of_agents": n, "number_of_tickets": c} for n, c in sorted(per_agents.items())
        ],
        "tickets-per-agent": tickets_per_agent,
        "resolution-time-by-month": [
            {"month": m, **_stats(s, percentiles=False)} for m, s in sorted(months.items())
        ],
        "agent-ratings": agent_ratings,
        "first-response-time": first_response,
        "csat": {
            "responses": len(rated),
            "satisfied": satisfied,
            "csat": satisfied / len(rated) if rated else None,
        },
    }
