"""Click traffic for the benchmarks, built on the integration tests' generator.

`tests.traffic.generate` walks customers through a small site (forward links, turnarounds,
back-button jumps, resolutions, idle gaps). Here its clicks are put in one global event-time
order, as a site would send them, and turned into request bodies or, for preloading the
streams directly, into exactly the stream entries `POST /v1/clicks/batch` would write
(the API's own `to_wire` / `encode_events` / `stream_key`, so the format cannot drift).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tests.traffic import SentClick, generate

CLICKS_PER_CUSTOMER = 10


def click_stream(
    events: int,
    seed: int,
    clicks_per_customer: int = CLICKS_PER_CUSTOMER,
    path_clicks: int | None = None,
) -> list[SentClick]:
    """`events` clicks of `events / clicks_per_customer` customers, in event-time order
    (paths of exactly `path_clicks` clicks when given; see `tests.traffic.generate`)."""
    rng = random.Random(seed)
    customers = max(1, -(-events // clicks_per_customer))
    clicks = generate(rng, customers, clicks_per_customer, path_clicks=path_clicks)
    clicks.sort(key=lambda c: (c.click.timestamp, c.click.customer_id))
    return clicks[:events]


def delay_some(clicks: list[SentClick], fraction: float, max_shift: int, seed: int) -> None:
    """Out-of-order arrival: each click, with probability ``fraction``, arrives up to
    ``max_shift`` positions later in the stream than its event time puts it (in place)."""
    if fraction <= 0:
        return
    rng = random.Random(seed + 1)
    arrival = [
        i + (rng.randint(1, max_shift) + 0.5 if rng.random() < fraction else 0)
        for i in range(len(clicks))
    ]
    order = sorted(range(len(clicks)), key=arrival.__getitem__)
    clicks[:] = [clicks[i] for i in order]


def single_bodies(clicks: Sequence[SentClick]) -> list[bytes]:
    """One `POST /v1/clicks` body per click."""
    return [orjson.dumps(c.body()) for c in clicks]


def batch_bodies(clicks: Sequence[SentClick], size: int) -> list[bytes]:
    """`POST /v1/clicks/batch` bodies of `size` clicks each (the last may be shorter)."""
    return [
        orjson.dumps({"events": [c.body() for c in clicks[i : i + size]]})
        for i in range(0, len(clicks), size)
    ]


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One stream entry as the API writes it: a partition's share of one request."""

    key: str
    partition: int
    payload: bytes
    events: int


def stream_entries(
    clicks: Sequence[SentClick], request_size: int, partitions: int
) -> list[StreamEntry]:
    """The entries that POSTing `clicks` in requests of `request_size` would append.

    Mirrors the click routes (`helpstream.api.routes.clicks`): validate with the API's model,
    derive the event key with its `to_wire`, one entry per (request, partition touched).
    """
    from helpstream.api.models import ClickIn
    from helpstream.api.routes.clicks import to_wire
    from helpstream.streams import stream_key
    from helpstream.wire import encode_events

    entries: list[StreamEntry] = []
    for start in range(0, len(clicks), request_size):
        by_partition: dict[int, list[list[Any]]] = defaultdict(list)
        for sent in clicks[start : start + request_size]:
            click = ClickIn.model_validate(sent.body())
            by_partition[click.customer_id % partitions].append(to_wire(click))
        for partition, wire in by_partition.items():
            entries.append(
                StreamEntry(
                    stream_key(partition, "clicks"), partition, encode_events(wire), len(wire)
                )
            )
    return entries


def wire_payload_of_one(click: SentClick) -> bytes:
    """The stream payload of a single-event request: what one raw XADD should carry."""
    entries = stream_entries([click], 1, 1)
    return entries[0].payload
