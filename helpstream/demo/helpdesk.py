"""The demo help desk, seed-sized: 34 agents, 123 customers, 377 tickets, 6,341 messages.

From January 2023 to March 2024 (two Januaries, Februaries and Marches, so the by-month
report shows years kept apart). It has all six categories, tickets handed over between
agents, a few tickets no agent wrote on, reopened tickets, re-rated tickets, a new agent
without tickets yet, and some tickets still open.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from helpstream.constants import CATEGORIES
from helpstream.demo.data import DAY, END, HOUR, START, DemoData, Event

AGENTS = 34
CUSTOMERS = 123
TICKETS = 377
MESSAGES = 6341


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ada Alan Amara Ben Bianca Carlos Chen Dana Diego Elena Emeka Farah Gus Hana Ivan "
    "Jade Jonas Kai Lena Luca Maya Mei Nadia Noah Omar Priya Quinn Rosa Sam Sofia Tariq "
    "Uma Victor Wen Yara Zoe"
)
LAST_NAMES = _words(
    "Adams Baker Chavez Dubois Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Lopez "
    "Moreau Nakamura Okafor Petrov Quintero Rossi Schmidt Tanaka Ueda Varga Weber Xu "
    "Yilmaz Zhang"
)
CATEGORY_WEIGHTS = (0.20, 0.18, 0.15, 0.15, 0.17, 0.15)
PHRASES = {
    "Account access": ("I cannot log in", "the reset link expired", "two-factor code"),
    "Bug report": ("the page freezes", "the button does nothing", "an error appears"),
    "Order cancellation": ("please cancel my order", "I changed my mind", "cancel it"),
    "Overcharged transaction": ("I was charged twice", "the amount is wrong", "refund"),
    "Undelivered goods": ("my parcel never came", "tracking has not moved", "lost item"),
    "Wrong order": ("I got the wrong size", "this is not what I ordered", "swap it"),
}
REPLIES = (
    "Thanks for reaching out, I am looking into it.",
    "Could you send me the order number?",
    "I have escalated this to our team.",
    "That should be fixed now, can you check?",
    "Sorry for the trouble, here is what we can do.",
)


@dataclass(slots=True)
class _Agent:
    agent_id: int
    skill: float  # 0..1: faster replies, better ratings
    workload: float  # relative share of tickets


def generate_help_desk(rng: random.Random, data: DemoData) -> None:
    """Add the agents, customers and tickets to ``data`` (drawing from ``rng`` in order)."""
    agents = _people(rng, data, "agent", AGENTS, "helpdesk.example")
    _people(rng, data, "customer", CUSTOMERS, "mail.example")
    team = [
        _Agent(i, rng.uniform(0.2, 1.0), 0.0 if i == AGENTS else rng.uniform(0.4, 1.6))
        for i in agents  # the last agent was hired this week: no tickets yet
    ]
    _help_desk(rng, data, team)


def _people(rng: random.Random, data: DemoData, kind: str, n: int, domain: str) -> list[int]:
    ids = list(range(1, n + 1))
    for person_id in ids:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        data.support_events.append(
            {
                "type": f"{kind}.upserted",
                f"{kind}_id": person_id,
                "email": f"{first}.{last}.{person_id}@{domain}".lower(),
                "first_name": first,
                "last_name": last,
                "phone": str(5550000 + rng.randrange(10_000)),
            }
        )
    return ids


def _message_counts(rng: random.Random) -> list[int]:
    """Messages per ticket, summing to MESSAGES exactly; a few tickets have one message."""
    counts = [1 if rng.random() < 0.03 else rng.randint(6, 28) for _ in range(TICKETS)]
    adjustable = [i for i, c in enumerate(counts) if c > 1]
    while (diff := MESSAGES - sum(counts)) != 0:
        i = rng.choice(adjustable)
        step = 1 if diff > 0 else -1
        if 4 <= counts[i] + step <= 40:
            counts[i] += step
    return counts


def _help_desk(rng: random.Random, data: DemoData, team: list[_Agent]) -> None:
    opened_at = sorted(rng.randrange(START, END) for _ in range(TICKETS))
    counts = _message_counts(rng)
    weights = [a.workload for a in team]
    timeline: list[tuple[int, int, Event]] = []  # (timestamp, order, event)

    def emit(ts: int, event: Event) -> None:
        timeline.append((ts, len(timeline), {**event, "timestamp": ts}))

    message_id = 0
    for ticket_id, (opened, n_messages) in enumerate(zip(opened_at, counts, strict=True), 1):
        category = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        customer_id = rng.randint(1, CUSTOMERS)
        emit(
            opened,
            {
                "type": "ticket.opened",
                "ticket_id": ticket_id,
                "customer_id": customer_id,
                "category": category,
            },
        )
        # Who writes: the customer first, then mostly alternating; no agent on a few.
        unanswered = n_messages > 1 and rng.random() < 0.025
        primary = rng.choices(team, weights)[0]
        handlers = [primary]
        if n_messages >= 6 and rng.random() < 0.25:  # handed over to another agent
            handlers.append(rng.choices(team, weights)[0])
            if rng.random() < 0.25:
                handlers.append(rng.choices(team, weights)[0])
        handover_at = sorted(rng.sample(range(2, max(3, n_messages)), len(handlers) - 1))
        reopen = n_messages >= 8 and rng.random() < 0.08
        split = rng.randint(4, n_messages - 3) if reopen else -1

        ts = opened
        resolutions: list[tuple[int, int]] = []  # (resolved at, agent)
        agent = primary
        last_agent: _Agent | None = None
        for i in range(n_messages):
            if i == split:  # resolved, then the customer comes back a few days later
                resolved_ts = ts + rng.randint(10, 90) * 60
                resolutions.append((resolved_ts, (last_agent or agent).agent_id))
                ts = resolved_ts + rng.randint(1, 5) * DAY
                emit(
                    ts - rng.randint(1, 6) * HOUR,
                    {"type": "ticket.reopened", "ticket_id": ticket_id},
                )
            if handover_at and i >= handover_at[0]:
                handover_at.pop(0)
                agent = handlers[len(handlers) - len(handover_at) - 1]
            from_agent = not unanswered and i % 2 == 1
            if i > 0 and i != split:
                ts += _reply_delay(rng, agent.skill if from_agent else None)
            message_id += 1
            if from_agent:
                last_agent = agent
            emit(
                ts,
                {
                    "type": "message.sent",
                    "message_id": message_id,
                    "ticket_id": ticket_id,
                    "sender_type": "agent" if from_agent else "customer",
                    "sender_id": agent.agent_id if from_agent else customer_id,
                    "text": rng.choice(REPLIES)
                    if from_agent
                    else rng.choice(PHRASES[category]).capitalize() + ".",
                },
            )
        still_open = END - ts < 6 * DAY or (reopen and rng.random() < 0.2)
        if not still_open:
            resolutions.append((ts + rng.randint(5, 120) * 60, (last_agent or agent).agent_id))
        for resolved_ts, agent_id in resolutions:
            emit(
                resolved_ts,
                {"type": "ticket.resolved", "ticket_id": ticket_id, "agent_id": agent_id},
            )
        data.resolved_tickets += not still_open
        data.reopened_tickets += reopen

        # Ratings: after a resolution; better agents and quicker tickets rate higher.
        if resolutions and rng.random() < 0.7:
            hours = (ts - opened) / HOUR
            skill = sum(h.skill for h in handlers) / len(handlers)
            mood = 2.8 + 2.6 * skill - min(hours / 120, 1.5) + rng.gauss(0, 0.7)
            rating = max(1, min(5, round(mood)))
            first_rated = resolutions[0][0] + rng.randint(1, 48) * HOUR
            emit(first_rated, {"type": "ticket.rated", "ticket_id": ticket_id, "rating": rating})
            if len(resolutions) > 1 or rng.random() < 0.05:  # re-rated later
                second = max(1, min(5, rating + rng.choice((-2, -1, 1, 2))))
                later = resolutions[-1][0] + rng.randint(49, 96) * HOUR
                emit(later, {"type": "ticket.rated", "ticket_id": ticket_id, "rating": second})
                data.rerated_tickets += 1
    timeline.sort(key=lambda item: (item[0], item[1]))
    data.support_events.extend(event for _, _, event in timeline)


def _reply_delay(rng: random.Random, agent_skill: float | None) -> int:
    """Seconds until the next message: agents take hours, customers minutes to a day."""
    if agent_skill is None:
        return int(rng.lognormvariate(math.log(3 * HOUR), 1.0)) + 60
    return int(rng.lognormvariate(math.log((4.5 - 3.5 * agent_skill) * HOUR), 0.8)) + 120
