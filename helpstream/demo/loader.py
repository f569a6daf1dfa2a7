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
from helpstream.demo.progress import Progress
from helpstream.demo.site import generate_clickstream, site_pages


def generate(seed: int = 2018) -> DemoData:
    """The demo's events, identical for the same seed."""
    rng = random.Random(seed)
    data = DemoData()
    generate_help_desk(rng, data)
    data.clicks = generate_clickstream(rng)
    data.pages = site_pages()
    return data


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


def _name_pages(client: httpx.Client, pages: Sequence[Event]) -> None:
    """Give the site's pages their names (`PUT /v1/pages/{id}`, idempotent)."""
    for page in pages:
        body = {k: page[k] for k in ("name", "url", "group")}
        response = client.put(f"/v1/pages/{page['page_id']}", json=body)
        if response.status_code != 200:
            raise DemoError(f"/v1/pages/{page['page_id']}: {response.status_code} {response.text}")


def _wait_applied(
    client: httpx.Client, expected_resolved: int, timeout: float, progress: Progress
) -> bool:
    """Poll a report until every resolved ticket is in it (events applied by workers)."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < timeout:
        response = client.get("/v1/reports/agents-per-ticket")
        if response.status_code != 200:
            return False  # e.g. an ingest-only key: cannot read, do not wait
        applied = sum(r["number_of_tickets"] for r in response.json())
        progress.waiting(applied, expected_resolved, elapsed)
        if applied >= expected_resolved:
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
        _name_pages(client, data.pages)
        for chunk in _chunks(data.support_events, batch_size):
            _post(client, "/v1/support-events/batch", chunk)
            progress.advance(len(chunk), "help desk")
        for chunk in _chunks(data.clicks, batch_size):
            _post(client, "/v1/clicks/batch", chunk)
            progress.advance(len(chunk), "clickstream")
        progress.finish_sending()
        waiting_since = time.monotonic()
        applied = _wait_applied(client, data.resolved_tickets, wait_seconds, progress)
        progress.waited(applied, time.monotonic() - waiting_since)
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
    print(f"  Pages:     {base}/v1/pages ({len(data.pages)} named pages)", file=out)
    return data
