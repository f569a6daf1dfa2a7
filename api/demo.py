"""`helpstream demo`: a seed-sized help desk and a support site's clickstream, via the API.

`generate(seed)` is pure and deterministic (one `random.Random(seed)`, fixed dates), so
the same seed gives the same events on every machine and the unit tests can check it.
`load(...)` POSTs them through the public HTTP API, like any client would.

The help desk matches the seed's size: 34 agents, 123 customers, 377 tickets, 6,341
messages, from January 2023 to March 2024 (two Januaries, Februaries and Marches, so the
by-month report shows years kept apart). It has all six categories, tickets handed over
between agents, a few tickets no agent wrote on, reopened tickets, re-rated tickets, a
new agent without tickets yet, and some tickets still open.

The support site: a home page, search, six category hubs with four articles each, and a
contact page. Two things confuse visitors: a "Billing & payments" hub that looks right
for refunds but is not (visitors turn back), and misleading article titles that send
visitors to the wrong article first. Variant "B" is the redesign: the billing hub is gone
and titles are clearer, so B shows fewer turnarounds and more resolved paths than "A".
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx

from api.models_support import CATEGORIES

Event = dict[str, Any]

AGENTS = 34
CUSTOMERS = 123
TICKETS = 377
MESSAGES = 6341
SITE_VISITORS = 420
SESSIONS = 1100

START = int(datetime(2023, 1, 2, tzinfo=UTC).timestamp())
END = int(datetime(2024, 3, 29, tzinfo=UTC).timestamp())
HOUR = 3600
DAY = 24 * HOUR


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
class DemoData:
    """Everything `helpstream demo` sends, plus the figures it expects back."""

    support_events: list[Event] = field(default_factory=list)
    clicks: list[Event] = field(default_factory=list)
    resolved_tickets: int = 0
    reopened_tickets: int = 0
    rerated_tickets: int = 0

    def count(self, event_type: str) -> int:
        return sum(1 for e in self.support_events if e["type"] == event_type)


@dataclass(slots=True)
class _Agent:
    agent_id: int
    skill: float  # 0..1: faster replies, better ratings
    workload: float  # relative share of tickets


def generate(seed: int = 2018) -> DemoData:
    """The demo's events, identical for the same seed."""
    rng = random.Random(seed)
    data = DemoData()
    agents = _people(rng, data, "agent", AGENTS, "helpdesk.example")
    _people(rng, data, "customer", CUSTOMERS, "mail.example")
    team = [
        _Agent(i, rng.uniform(0.2, 1.0), 0.0 if i == AGENTS else rng.uniform(0.4, 1.6))
        for i in agents  # the last agent was hired this week: no tickets yet
    ]
    _help_desk(rng, data, team)
    data.clicks = _clickstream(rng)
    return data


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


# --- the support site --------------------------------------------------------------------

HOME, SEARCH, CONTACT, BILLING_HUB = 1, 2, 3, 20
MONEY_CATEGORIES = ("Overcharged transaction", "Order cancellation")
# The few articles whose titles mislead: visitors open them first and turn back.
MISLEADING_ARTICLE = {"Bug report": 1, "Undelivered goods": 1, "Wrong order": 2}


def _hub(category: int) -> int:
    return 10 + category


def _article(category: int, index: int) -> int:
    return 100 + 10 * category + index


def _clickstream(rng: random.Random) -> list[Event]:
    """Sessions of site visitors looking for help, as click events in time order."""
    variants = {v: "A" if rng.random() < 0.5 else "B" for v in range(1, SITE_VISITORS + 1)}
    next_free = dict.fromkeys(variants, START)
    clicks: list[Event] = []
    for _ in range(SESSIONS):
        visitor = rng.randint(1, SITE_VISITORS)
        start = max(next_free[visitor], rng.randrange(START, END))
        session = _session(rng, visitor, variants[visitor], start)
        clicks.extend(session)
        next_free[visitor] = session[-1]["timestamp"] + DAY  # sessions never overlap
    clicks.sort(key=lambda c: (c["timestamp"], c["customer_id"]))
    return clicks


def _session(rng: random.Random, visitor: int, variant: str, start: int) -> list[Event]:
    clicks: list[Event] = []
    state = {"ts": start, "page": HOME}

    def click(target: int, resolved: bool = False, source: int | None = None) -> None:
        state["ts"] += rng.randint(5, 90)
        clicks.append(
            {
                "timestamp": state["ts"],
                "customer_id": visitor,
                "source_page_id": state["page"] if source is None else source,
                "target_page_id": target,
                "is_resolved": resolved,
                "variant": variant,
            }
        )
        state["page"] = target

    category = rng.randrange(len(CATEGORIES))
    name = CATEGORIES[category]
    if rng.random() < 0.25:
        click(SEARCH)
    elif name in MONEY_CATEGORIES and variant == "A" and rng.random() < 0.7:
        click(BILLING_HUB)  # looks right, is not: back to home (the back button)
        state["page"] = HOME
        click(_hub(category), source=HOME)
    else:
        click(_hub(category))
    hub = state["page"]
    if rng.random() < 0.08:
        return clicks  # gave up at once: the path is abandoned after the timeout
    misled = 0.6 if variant == "A" else 0.15
    if name in MISLEADING_ARTICLE and rng.random() < misled:
        click(_article(category, MISLEADING_ARTICLE[name]))  # a title that promises the answer
        if rng.random() < 0.15:
            return clicks  # gave up there
        if rng.random() < 0.5:
            click(hub)  # a link back: a turnaround on the misleading article
        else:
            state["page"] = hub  # the back button: the next click's source is the hub
    elif rng.random() < 0.3:
        click(_article(category, rng.randint(2, 3)))  # a related article, then its link on
    solved = rng.random() < (0.85 if variant == "B" else 0.75)
    click(_article(category, 0), resolved=solved)
    if not solved:
        click(CONTACT)
    return clicks


# --- loading through the API ---------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (no dependency, fine for a terminal or a log)."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.out, self.width, self.done = total, out, width, 0

    def advance(self, n: int, label: str) -> None:
        self.done += n
        filled = self.width * self.done // max(1, self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {self.done:>6}/{self.total} events  {label:<16}")
        if self.done >= self.total:
            self.out.write("\n")
        self.out.flush()


class DemoError(Exception):
    """The server said no; the message says why and what to do."""


def _chunks(items: Sequence[Event], size: int) -> list[Sequence[Event]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _post(client: httpx.Client, path: str, events: Sequence[Event]) -> None:
    for attempt in range(10):
        response = client.post(path, json={"events": list(events)})
        if response.status_code == 202:
            return
        if response.status_code == 503 and attempt < 9:  # workers behind: back off
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        if response.status_code in (401, 403):
            raise DemoError(
                f"{path}: {response.status_code} {response.text}\n"
                "Pass an admin key (it sends events and reads reports) with --api-key or "
                "HELPSTREAM_API_KEY; create one with `helpstream keys create --scope admin` "
                "(same --data-dir / HELPSTREAM_DATABASE_URL as the server)."
            )
        raise DemoError(f"{path}: {response.status_code} {response.text}")


def _wait_applied(client: httpx.Client, expected_resolved: int, timeout: float) -> bool:
    """Poll a report until every resolved ticket is in it (events applied by workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/v1/reports/agents-per-ticket")
        if response.status_code != 200:
            return False  # e.g. an ingest-only key: cannot read, do not wait
        if sum(r["number_of_tickets"] for r in response.json()) >= expected_resolved:
            return True
        time.sleep(0.5)
    return False


def load(
    url: str,
    api_key: str | None = None,
    seed: int = 2018,
    batch_size: int = 500,
    wait_seconds: float = 120.0,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    client_factory: Callable[..., httpx.Client] = httpx.Client,
) -> DemoData:
    """Send the demo to a running helpstream at ``url``; returns what was sent."""
    data = generate(seed)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base = url.rstrip("/")
    progress = Progress(len(data.support_events) + len(data.clicks), err)
    with client_factory(base_url=base, headers=headers, timeout=60) as client:
        for chunk in _chunks(data.support_events, batch_size):
            _post(client, "/v1/support-events/batch", chunk)
            progress.advance(len(chunk), "help desk")
        for chunk in _chunks(data.clicks, batch_size):
            _post(client, "/v1/clicks/batch", chunk)
            progress.advance(len(chunk), "clickstream")
        err.write("waiting for the workers to apply the events...\n")
        applied = _wait_applied(client, data.resolved_tickets, wait_seconds)
    print(
        f"Loaded {data.count('agent.upserted')} agents, {data.count('customer.upserted')} "
        f"customers, {data.count('ticket.opened')} tickets, {data.count('message.sent')} "
        f"messages and {len(data.clicks)} clicks (variants A and B)"
        + ("." if applied else " (still being applied)."),
        file=out,
    )
    print(f"  Dashboard: {base}/dashboard", file=out)
    print(f"  API docs:  {base}/docs", file=out)
    print(f"  Reports:   {base}/v1/reports/resolution-time (and 6 more, see /docs)", file=out)
    print(f"  Paths:     {base}/v1/metrics/pages?variant=A vs ?variant=B", file=out)
    return data
