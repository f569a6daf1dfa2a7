"""`helpstream demo`: generate the demo's events and send them through the public API.

`generate(seed)` is pure and deterministic (one `random.Random(seed)`, fixed dates), so
the same seed gives the same events on every machine and the unit tests can check it.
`load(...)` POSTs them through the public HTTP API, like any client would.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import httpx

from helpstream.demo.data import DemoData, Event
from helpstream.demo.helpdesk import generate_help_desk
from helpstream.demo.site import generate_clickstream


def generate(seed: int = 2018) -> DemoData:
    """The demo's events, identical for the same seed."""
    rng = random.Random(seed)
    data = DemoData()
    generate_help_desk(rng, data)
    data.clicks = generate_clickstream(rng)
    return data


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
