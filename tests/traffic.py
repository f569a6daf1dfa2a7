"""Realistic, reproducible click traffic for integration tests and expected results for it.

Customers walk a small site: mostly forward along links, sometimes straight back (a
turnaround), sometimes jumping with the browser's back button (an implied page), now and
then resolving, now and then going idle for longer than the path timeout.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from helpstream.workers.sessionizer import Click, Path, sessionize

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
    rng: random.Random, customers: int, clicks_per_customer: int, start: int = 1_700_000_000
) -> list[SentClick]:
    """Clicks in event-time order, with distinct timestamps per customer."""
    sent: list[SentClick] = []
    for customer_id in range(customers):
        variant = "A" if customer_id % 2 else "B"
        ts = start + rng.randrange(0, 600)
        page, previous = 0, None
        for _ in range(clicks_per_customer):
            roll = rng.random()
            if roll < 0.15 and previous is not None:
                target = previous  # straight back: a turnaround at `page`
            elif roll < 0.22 and previous is not None:
                page, target = previous, rng.choice(SITE[previous])  # browser back, then on
            else:
                target = rng.choice(SITE[page])
            resolved = rng.random() < 0.12
            event_id = str(uuid.UUID(int=rng.getrandbits(128))) if rng.random() < 0.5 else None
            sent.append(
                SentClick(Click(ts, customer_id, page, target, resolved, variant), event_id)
            )
            previous, page = page, target
            if resolved:
                page, previous = rng.choice([0, 1, 2]), None
            ts += rng.randrange(1, 400) if rng.random() > 0.08 else rng.randrange(2000, 5000)
    return sent


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


def expected_paths(clicks: list[SentClick], timeout: int) -> list[Path]:
    """The contract's answer: per customer, one fold over the distinct clicks, then the
    newest path closed if event time on the stream has moved on by more than the timeout."""
    by_customer: dict[int, list[Click]] = defaultdict(list)
    for sent in clicks:
        by_customer[sent.click.customer_id].append(sent.click)
    stream_time = max(sent.click.timestamp for sent in clicks)
    paths: list[Path] = []
    for customer_id in sorted(by_customer):
        folded = sessionize(set(by_customer[customer_id]), timeout)
        last = folded[-1]
        if last.status == "open" and stream_time - last.end_ts > timeout:
            last.status = "abandoned"
        paths.extend(folded)
    return paths


def path_metrics(paths: list[Path]) -> dict[str, Any]:
    """Contract §3 formulas, computed directly over a list of paths."""
    completed = [p for p in paths if p.status != "open"]
    resolved = [p for p in completed if p.status == "resolved"]
    lengths = [len(p.pages) for p in resolved]
    mean = sum(lengths) / len(lengths) if lengths else None
    variance = (
        sum((x - mean) ** 2 for x in lengths) / len(lengths)
        if lengths and mean is not None
        else None
    )
    turned = [p for p in completed if _turnarounds(p.pages)]
    return {
        "completed_paths": len(completed),
        "resolved_paths": len(resolved),
        "abandoned_paths": len(completed) - len(resolved),
        "resolution_rate": len(resolved) / len(completed) if completed else None,
        "average_path_length": mean,
        "path_length_variance": variance,
        "turnaround_rate": len(turned) / len(completed) if completed else None,
    }


def _turnarounds(pages: list[int]) -> list[int]:
    return [pages[i] for i in range(1, len(pages) - 1) if pages[i - 1] == pages[i + 1]]


def page_metrics(paths: list[Path]) -> dict[int, dict[str, Any]]:
    stats: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"visits": 0, "departures": 0, "turnarounds": 0, "resolutions": 0}
    )
    for p in paths:
        if p.status == "open":
            continue
        for i, page in enumerate(p.pages):
            stats[page]["visits"] += 1
            if i < len(p.pages) - 1:
                stats[page]["departures"] += 1
        for page in _turnarounds(p.pages):
            stats[page]["turnarounds"] += 1
        if p.status == "resolved":
            stats[p.pages[-1]]["resolutions"] += 1
    total_t = sum(s["turnarounds"] for s in stats.values())
    total_d = sum(s["departures"] for s in stats.values())
    rate = total_t / total_d if total_d else 0.0
    for s in stats.values():
        d, t = s["departures"], s["turnarounds"]
        spread = d * rate * (1 - rate)
        s["z_score"] = (t - d * rate) / math.sqrt(spread) if spread > 0 else None
    return dict(stats)


def as_api(path: Path) -> dict[str, Any]:
    return {
        "customer_id": path.customer_id,
        "path_start_timestamp": path.start_ts,
        "path_end_timestamp": path.end_ts,
        "path": path.pages,
        "path_length": len(path.pages),
        "status": path.status,
        "has_turnaround": bool(_turnarounds(path.pages)),
        "variant": path.variant,
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
