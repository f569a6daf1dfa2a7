"""The shared metrics poller: one read per interval per filter set, whatever the viewers."""

from __future__ import annotations

import asyncio
from collections import Counter

from pydantic import BaseModel

from helpstream.api.live import MetricsHub, Source


class Figure(BaseModel):
    value: int


class Sources:
    """Readers that count their calls; `value` is what they currently return."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.value = 0
        self.called = asyncio.Event()

    def reader(self, name: str) -> Source:
        async def read() -> BaseModel:
            self.calls[name] += 1
            self.called.set()
            return Figure(value=self.value)

        return read

    def for_key(self) -> dict[str, Source]:
        return {name: self.reader(name) for name in ("paths", "pages")}


async def wait_for_polls(sources: Sources, count: int) -> None:
    async with asyncio.timeout(5):
        while sources.calls["paths"] < count:
            sources.called.clear()
            await sources.called.wait()


async def test_viewers_of_one_filter_set_share_one_poller() -> None:
    hub = MetricsHub(interval=0.01)
    sources = Sources()
    async with (
        hub.subscribe("all", sources.for_key()) as first,
        hub.subscribe("all", Sources().for_key()) as second,  # not used: the poller runs
        hub.subscribe("all", Sources().for_key()) as third,
    ):
        await wait_for_polls(sources, 5)
        assert len(hub.pollers) == 1
        # Three viewers, yet each source was read once per round.
        assert abs(sources.calls["paths"] - sources.calls["pages"]) <= 1
        for viewer in (first, second, third):
            events = await viewer.next_events(wait_seconds=1)
            assert events == [
                b'event: paths\ndata: {"value":0}\n\n',
                b'event: pages\ndata: {"value":0}\n\n',
            ]
        # Unchanged figures are not sent again.
        assert await first.next_events(wait_seconds=0.05) == []
        sources.value = 1
        assert b'{"value":1}' in b"".join(await first.next_events(wait_seconds=1))
    assert hub.pollers == {}


async def test_a_late_viewer_gets_the_current_figures_at_once() -> None:
    hub = MetricsHub(interval=0.01)
    sources = Sources()
    async with hub.subscribe("all", sources.for_key()):
        await wait_for_polls(sources, 2)
        async with hub.subscribe("all", sources.for_key()) as late:
            events = await late.next_events(wait_seconds=0)
            assert len(events) == 2


async def test_other_filters_get_their_own_poller_and_it_stops_with_its_last_viewer() -> None:
    hub = MetricsHub(interval=0.01)
    a, b = Sources(), Sources()
    async with hub.subscribe(("A",), a.for_key()):
        async with hub.subscribe(("B",), b.for_key()):
            await wait_for_polls(a, 2)
            await wait_for_polls(b, 2)
            assert set(hub.pollers) == {("A",), ("B",)}
        assert set(hub.pollers) == {("A",)}
        stopped_at = b.calls["paths"]
        await wait_for_polls(a, a.calls["paths"] + 3)
        assert b.calls["paths"] == stopped_at


async def test_a_slow_viewer_gets_only_the_newest_figures() -> None:
    hub = MetricsHub(interval=0.005)
    sources = Sources()
    async with hub.subscribe("all", sources.for_key()) as viewer:
        for value in range(1, 6):
            sources.value = value
            await wait_for_polls(sources, sources.calls["paths"] + 2)
        events = await viewer.next_events(wait_seconds=0)
        assert events == [
            b'event: paths\ndata: {"value":5}\n\n',
            b'event: pages\ndata: {"value":5}\n\n',
        ]


async def test_a_failing_source_does_not_stop_the_others() -> None:
    hub = MetricsHub(interval=0.01)
    sources = Sources()

    async def broken() -> BaseModel:
        raise ConnectionError("database away")

    async with hub.subscribe("all", {"reports": broken, **sources.for_key()}) as viewer:
        events = await viewer.next_events(wait_seconds=1)
        assert any(e.startswith(b"event: paths") for e in events)
