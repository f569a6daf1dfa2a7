"""Realistic, reproducible click traffic for integration tests and expected results for it.

Customers walk a small site: mostly forward along links, sometimes straight back (a
turnaround), sometimes jumping with the browser's back button (an implied page), now and
then resolving, now and then going idle for longer than the path timeout.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests import oracle
from tests.oracle import OClick as Click
from tests.oracle import OPath as Path

SITE = {
    0: [1, 2, 3],
    1: [4, 5, 0],
    2: [5, 6, 0],
    3: [6, 7, 0],
    4: [8, 1],
    5: [8, 9, 2],
    6: [9, 3],
    7: [9, 3],
    8: [4, 5],
    9: [6, 7],
}


@dataclass(frozen=True, slots=True)
class SentClick:
    click: Click
    event_id: str | None

    def body(self) -> dict[str, Any]:
        c = self.click
        body: dict[str, Any] = {
            "timestamp": c.timestamp,
            "customer_id": c.customer_id,
            "source_page_id": c.source,
            "target_page_id": c.target,
            "is_resolved": c.resolved,
            "variant": c.variant,
        }
        if self.event_id is not None:
            body["event_id"] = self.event_id
        return body


def generate(
    rng: random.Random,
    customers: int,
    clicks_per_customer: int,
    start: int = 1_700_000_000,
    timeout: int = 1800,
    path_clicks: int | None = None,
) -> list[SentClick]:
    """Clicks in event-time order per customer, with the cases the rules are exact about.

    Besides ordinary steps: same-second clicks (chains followed within one second, double
    clicks that are two events), gaps of exactly ``timeout`` (the path goes on) and of
    ``timeout + 1`` (it is abandoned), browser-back steps and straight-back turnarounds.
    With ``path_clicks`` (benchmarks of long paths), every path is that many clicks long:
    only its last click resolves it, and no gap is longer than the timeout.
    """
    sent: list[SentClick] = []
    for customer_id in range(customers):
        variant = "A" if customer_id % 2 else "B"
        ts = start + rng.randrange(0, 600)
        page, previous = 0, None
        for n in range(clicks_per_customer):
            roll = rng.random()
            if roll < 0.15 and previous is not None:
                target = previous  # straight back: a turnaround at `page`
            elif roll < 0.22 and previous is not None:
                page, target = previous, rng.choice(SITE[previous])  # browser back, then on
            else:
                target = rng.choice(SITE[page])
            resolved = rng.random() < 0.12
            if path_clicks is not None:
                resolved = (n + 1) % path_clicks == 0
            click = Click(ts, customer_id, page, target, resolved, variant)
            sent.append(SentClick(click, _event_id(rng)))
            if rng.random() < 0.03:  # a double click: another event with the same content
                sent.append(SentClick(click, str(uuid.UUID(int=rng.getrandbits(128)))))
            previous, page = page, target
            if resolved:
                page, previous = rng.choice([0, 1, 2]), None
            gap = _gap(rng, timeout)
            ts += gap if path_clicks is None or gap <= timeout else rng.randrange(1, 400)
    return sent


def _event_id(rng: random.Random) -> str | None:
    return str(uuid.UUID(int=rng.getrandbits(128))) if rng.random() < 0.5 else None


def _gap(rng: random.Random, timeout: int) -> int:
    roll = rng.random()
    if roll < 0.10:
        return 0  # same second
    if roll < 0.14:
        return timeout  # exactly the timeout: still the same path
    if roll < 0.17:
        return timeout + 1  # one second more: abandoned
    if roll < 0.23:
        return rng.randrange(timeout + 2, 3 * timeout)
    return rng.randrange(1, 400)


def arrival_order(
    rng: random.Random, clicks: list[SentClick], lateness: int, duplicate_share: float
) -> list[SentClick]:
    """Shuffle within the lateness bound and add duplicate deliveries."""
    keyed = [(c.click.timestamp + rng.randrange(0, lateness + 1), rng.random(), c) for c in clicks]
    extra = [
        (key + rng.randrange(0, lateness + 1), rng.random(), c)
        for key, _, c in keyed
        if rng.random() < duplicate_share
    ]
    return [c for _, _, c in sorted(keyed + extra, key=lambda k: (k[0], k[1]))]


def batches(rng: random.Random, items: list[Any], largest: int) -> list[list[Any]]:
    out, i = [], 0
    while i < len(items):
        size = rng.choice([1, 1, 2, rng.randrange(1, largest + 1)])
        out.append(items[i : i + size])
        i += size
    return out


def distinct(clicks: list[SentClick]) -> list[Click]:
    """One click per event: the `event_id`, or the content when there is none (contract §3)."""
    by_key: dict[Any, Click] = {}
    for sent in clicks:
        by_key.setdefault(sent.event_id or ("content", sent.click), sent.click)
    return list(by_key.values())


def expected_paths(clicks: list[SentClick], timeout: int) -> list[Path]:
    """The contract's answer, from the independent oracle (tests/oracle.py)."""
    return oracle.all_paths(distinct(clicks), timeout)


def path_metrics(paths: list[Path]) -> dict[str, Any]:
    """Contract §3 path metrics over a list of paths (completed ones count)."""
    return oracle.path_metrics(paths)


def page_metrics(paths: list[Path]) -> dict[int, dict[str, Any]]:
    """Contract §3 page figures by page id (completed paths count)."""
    return {item["page_id"]: item for item in oracle.page_metrics(paths)["items"]}


def as_api(path: Path) -> dict[str, Any]:
    return path.api()


def expected_page_metrics(
    paths: list[Path], since: int | None = None, until: int | None = None
) -> dict[str, Any]:
    """`GET /v1/metrics/pages` (no limit) as the product should answer, floats approximate.

    ``flagged`` is the contract's Benjamini–Hochberg flag (5 % false discovery rate).
    """
    result = oracle.page_metrics(paths, since, until)
    items = [
        {
            "page_id": i["page_id"],
            "visits": i["visits"],
            "departures": i["departures"],
            "turnarounds": i["turnarounds"],
            "turnaround_rate": _approx(i["turnaround_rate"]),
            "resolutions": i["resolutions"],
            "z_score": _approx(i["z_score"]),
            "flagged": i["flagged_bh"],
        }
        for i in result["items"]
    ]
    return {"global_turnaround_rate": _approx(result["global_turnaround_rate"]), "items": items}


def expected_path_metrics(
    paths: list[Path], since: int | None = None, until: int | None = None, late_events: int = 0
) -> dict[str, Any]:
    """`GET /v1/metrics/paths` as the product should answer, floats approximate."""
    metrics = oracle.path_metrics(paths, since, until)
    return {k: _approx(v) for k, v in metrics.items()} | {"late_events": late_events}


def without_names(pages: dict[str, Any]) -> dict[str, Any]:
    """A pages answer without the optional `page_name` (§8), for comparison with the oracle."""
    return {
        **pages,
        "items": [{k: v for k, v in i.items() if k != "page_name"} for i in pages["items"]],
    }


def bh_flagged(pages: dict[int, dict[str, Any]], fdr: float = 0.05) -> set[int]:
    """Contract §3's flagged pages, by the textbook Benjamini–Hochberg step-up: sort the
    one-sided p-values, find the largest rank k with p_(k) ≤ k·fdr/m, flag ranks 1..k."""
    scored = [
        (0.5 * math.erfc(s["z_score"] / math.sqrt(2)), page)
        for page, s in pages.items()
        if s["z_score"] is not None
    ]
    scored.sort()
    m = len(scored)
    k = max((rank for rank, (p, _) in enumerate(scored, 1) if p <= rank * fdr / m), default=0)
    return {page for _, page in scored[:k]}


def _approx(value: Any) -> Any:
    return pytest.approx(value) if isinstance(value, float) else value
