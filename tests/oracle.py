"""An independent answer to "what should the product say?", from the contract's rules alone.

Written from /work/shared/api-contract.md §3 and the tie rule documented in the README, on
purpose without importing (or copying the structure of) `workers.sessionizer`: end-to-end
tests compare the product with this module, so a wrong rule in the product cannot make its
own expected answer wrong too.

It is structured differently from the product on purpose:

* Ordering first, paths second. All of a customer's clicks are put in their final order
  (timestamp, then the documented same-second rule), and only then cut into paths. The
  page a same-second group continues from is simply the previous click's target, when
  that click did not resolve and is within the timeout.
* The same-second rule is the lexicographically smallest sequence of per-step ranks over
  *all permutations* of a small group (brute force), and a step-by-step choice only for
  groups too large to enumerate. `tie_order_by_steps` and `tie_order_brute_force` are
  checked against each other in tests/unit/test_oracle.py.

The same-second rule (README, "Same-second clicks"): within one second, unresolved clicks
before resolved ones; among those, the click leaving the current last page first; else one
that starts a chain (its source is no other remaining click's target); else the smallest
by (source, target, variant). After a resolved click there is no current page.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

BRUTE_FORCE_LIMIT = 6  # 6! = 720 orders per same-second group at most
FALSE_DISCOVERY_RATE = 0.05


@dataclass(frozen=True, slots=True)
class OClick:
    """One distinct click (duplicate deliveries already removed by event key)."""

    timestamp: int
    customer_id: int
    source: int
    target: int
    resolved: bool = False
    variant: str = "default"


@dataclass(slots=True)
class OPath:
    customer_id: int
    variant: str
    start_ts: int
    end_ts: int
    pages: list[int] = field(default_factory=list)
    status: str = "open"

    def api(self) -> dict[str, Any]:
        """The path as `GET /v1/paths` lists it."""
        return {
            "customer_id": self.customer_id,
            "path_start_timestamp": self.start_ts,
            "path_end_timestamp": self.end_ts,
            "path": list(self.pages),
            "path_length": len(self.pages),
            "status": self.status,
            "has_turnaround": bool(turnaround_locations(self.pages)),
            "variant": self.variant,
        }


def turnaround_locations(pages: Sequence[int]) -> list[int]:
    """Page B of every A → B → A in the path (contract §3, rule 6)."""
    return [b for a, b, c in zip(pages, pages[1:], pages[2:], strict=False) if a == c]


# --- same-second ordering --------------------------------------------------------------


def _rank(click: OClick, others: Sequence[OClick], current: int | None) -> tuple[Any, ...]:
    """How eagerly the rule takes ``click`` next (smaller first), given what is left."""
    leaves_current = click.source == current
    starts_chain = all(o.target != click.source for o in others if o != click)
    return (
        click.resolved,
        not leaves_current,
        not (leaves_current or starts_chain),  # among clicks leaving the page: no preference
        click.source,
        click.target,
        click.variant,
    )


def _after(click: OClick) -> int | None:
    return None if click.resolved else click.target


def tie_order_brute_force(group: Sequence[OClick], current: int | None) -> list[OClick]:
    """The order whose sequence of ranks is smallest, over every permutation of the group."""
    best: tuple[list[tuple[Any, ...]], tuple[OClick, ...]] | None = None
    for order in itertools.permutations(group):
        ranks, page = [], current
        for i, click in enumerate(order):
            ranks.append(_rank(click, order[i:], page))
            page = _after(click)
        if best is None or ranks < best[0]:
            best = (ranks, order)
    return list(best[1]) if best is not None else []


def tie_order_by_steps(group: Sequence[OClick], current: int | None) -> list[OClick]:
    """The same order, choosing the smallest rank one step at a time (for large groups)."""
    left, out, page = list(group), [], current
    while left:
        chosen = min(left, key=lambda c: _rank(c, left, page))
        left.remove(chosen)
        out.append(chosen)
        page = _after(chosen)
    return out


def tie_order(group: Sequence[OClick], current: int | None) -> list[OClick]:
    if len(group) <= BRUTE_FORCE_LIMIT:
        return tie_order_brute_force(group, current)
    return tie_order_by_steps(group, current)


def ordered(clicks: Iterable[OClick], timeout: int) -> list[OClick]:
    """One customer's clicks in the order the rules apply them."""
    by_second: dict[int, list[OClick]] = defaultdict(list)
    for click in clicks:
        by_second[click.timestamp].append(click)
    out: list[OClick] = []
    for second in sorted(by_second):
        previous = out[-1] if out else None
        continues = (
            previous is not None
            and not previous.resolved
            and second - previous.timestamp <= timeout
        )
        current = previous.target if continues and previous is not None else None
        out.extend(tie_order(by_second[second], current))
    return out


# --- paths ------------------------------------------------------------------------------


def _segments(clicks: list[OClick], timeout: int) -> list[tuple[list[OClick], str]]:
    """Cut ordered clicks into paths: after a resolution, and at every gap > timeout."""
    segments: list[tuple[list[OClick], str]] = []
    run: list[OClick] = []
    for i, click in enumerate(clicks):
        run.append(click)
        following = clicks[i + 1] if i + 1 < len(clicks) else None
        if click.resolved:
            segments.append((run, "resolved"))
            run = []
        elif following is not None and following.timestamp - click.timestamp > timeout:
            segments.append((run, "abandoned"))
            run = []
    if run:
        segments.append((run, "open"))
    return segments


def _pages(run: list[OClick]) -> list[int]:
    pages = [run[0].source]
    for click in run:
        if click.source != pages[-1]:
            pages.append(click.source)  # reached without a recorded click (back button)
        pages.append(click.target)
    return pages


def customer_paths(
    clicks: Iterable[OClick], timeout: int, stream_time: int | None = None
) -> list[OPath]:
    """One customer's paths; the open one is abandoned once the stream is past the timeout."""
    paths = [
        OPath(
            customer_id=run[0].customer_id,
            variant=run[0].variant,
            start_ts=run[0].timestamp,
            end_ts=run[-1].timestamp,
            pages=_pages(run),
            status=status,
        )
        for run, status in _segments(ordered(clicks, timeout), timeout)
    ]
    for path in paths:
        if (
            path.status == "open"
            and stream_time is not None
            and stream_time - path.end_ts > timeout
        ):
            path.status = "abandoned"
    return paths


def all_paths(clicks: Iterable[OClick], timeout: int) -> list[OPath]:
    """Every customer's paths, ordered as `GET /v1/paths` lists them (customer, start).

    Event time on the stream is the newest click of any customer (none are late here).
    """
    by_customer: dict[int, list[OClick]] = defaultdict(list)
    for click in clicks:
        by_customer[click.customer_id].append(click)
    if not by_customer:
        return []
    stream_time = max(c.timestamp for cs in by_customer.values() for c in cs)
    return [
        path
        for customer_id in sorted(by_customer)
        for path in customer_paths(by_customer[customer_id], timeout, stream_time)
    ]


# --- metrics ----------------------------------------------------------------------------


def in_window(
    paths: Iterable[OPath], since: int | None = None, until: int | None = None
) -> list[OPath]:
    """Completed paths whose end time is in [since, until] (inclusive, either side open)."""
    return [
        p
        for p in paths
        if p.status != "open"
        and (since is None or p.end_ts >= since)
        and (until is None or p.end_ts <= until)
    ]


def path_metrics(
    paths: Iterable[OPath], since: int | None = None, until: int | None = None
) -> dict[str, Any]:
    """`GET /v1/metrics/paths` (without `late_events`)."""
    done = in_window(paths, since, until)
    lengths = [len(p.pages) for p in done if p.status == "resolved"]
    n = len(lengths)
    mean = sum(lengths) / n if n else None
    variance = sum((x - mean) ** 2 for x in lengths) / n if n and mean is not None else None
    with_turnaround = sum(1 for p in done if turnaround_locations(p.pages))
    return {
        "completed_paths": len(done),
        "resolved_paths": n,
        "abandoned_paths": sum(1 for p in done if p.status == "abandoned"),
        "resolution_rate": n / len(done) if done else None,
        "average_path_length": mean,
        "path_length_variance": variance,
        "turnaround_rate": with_turnaround / len(done) if done else None,
    }


def one_sided_p(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def benjamini_hochberg(p_values: dict[int, float], q: float = FALSE_DISCOVERY_RATE) -> set[int]:
    """The keys rejected by the Benjamini–Hochberg step-up procedure at level q."""
    ranked = sorted(p_values.items(), key=lambda kv: (kv[1], kv[0]))
    m = len(ranked)
    cutoff = 0
    for k, (_, p) in enumerate(ranked, start=1):
        if p <= k * q / m:
            cutoff = k
    return {key for key, _ in ranked[:cutoff]}


def page_metrics(
    paths: Iterable[OPath], since: int | None = None, until: int | None = None
) -> dict[str, Any]:
    """`GET /v1/metrics/pages` with no limit: items sorted by z_score desc (None last).

    Each item also carries ``flagged_bh`` (Benjamini–Hochberg at 5 % on one-sided p-values,
    as the contract says) and ``flagged_z3`` (z ≥ 3, what the product documents today).
    """
    done = in_window(paths, since, until)
    figures: dict[int, dict[str, int]] = {}

    def page(pid: int) -> dict[str, int]:
        return figures.setdefault(
            pid, {"visits": 0, "departures": 0, "turnarounds": 0, "resolutions": 0}
        )

    for p in done:
        for position, pid in enumerate(p.pages):
            page(pid)["visits"] += 1
            page(pid)["departures"] += position < len(p.pages) - 1
        for pid in turnaround_locations(p.pages):
            page(pid)["turnarounds"] += 1
        if p.status == "resolved":
            page(p.pages[-1])["resolutions"] += 1
    t_all = sum(f["turnarounds"] for f in figures.values())
    d_all = sum(f["departures"] for f in figures.values())
    rate = t_all / d_all if d_all else 0.0
    z_scores: dict[int, float | None] = {}
    for pid, f in figures.items():
        d, t = f["departures"], f["turnarounds"]
        spread = d * rate * (1 - rate)
        z_scores[pid] = (t - d * rate) / math.sqrt(spread) if spread > 0 else None
    rejected = benjamini_hochberg(
        {pid: one_sided_p(z) for pid, z in z_scores.items() if z is not None}
    )
    items = [
        {
            "page_id": pid,
            **f,
            "turnaround_rate": f["turnarounds"] / f["departures"] if f["departures"] else None,
            "z_score": z_scores[pid],
            "flagged_bh": pid in rejected,
            "flagged_z3": z_scores[pid] is not None and z_scores[pid] >= 3,  # type: ignore[operator]
        }
        for pid, f in figures.items()
    ]
    items.sort(key=lambda i: (i["z_score"] is None, -(i["z_score"] or 0.0), i["page_id"]))
    return {"global_turnaround_rate": t_all / d_all if d_all else None, "items": items}
