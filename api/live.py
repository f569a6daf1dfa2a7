"""One poller per process and filter set for the live metrics stream, shared by all viewers.

Without it every open dashboard tab would run its own three queries every poll interval.
`MetricsHub.subscribe(key, sources)` joins the poller for `key` (starting it for the first
viewer, stopping it when the last one leaves). The poller reads each source once per
interval and hands the event bytes to every subscriber whose figures changed. A
subscriber keeps only the newest event per name, so a slow reader never builds a backlog:
it gets the current figures, not a history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping

from pydantic import BaseModel

log = logging.getLogger(__name__)

Source = Callable[[], Awaitable[BaseModel]]


def sse_event(event: str, model: BaseModel) -> bytes:
    return f"event: {event}\ndata: {model.model_dump_json()}\n\n".encode()


class Subscription:
    """What one viewer has not been sent yet: the newest event per name, in arrival order."""

    def __init__(self) -> None:
        self._pending: dict[str, bytes] = {}
        self._ready = asyncio.Event()

    def offer(self, name: str, event: bytes) -> None:
        self._pending.pop(name, None)  # re-insert: order follows the newest arrival
        self._pending[name] = event
        self._ready.set()

    async def next_events(self, wait_seconds: float) -> list[bytes]:
        """The pending events, waiting up to `wait_seconds` for one; [] when none came."""
        if not self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait_seconds)
        events = list(self._pending.values())
        self._pending.clear()
        self._ready.clear()
        return events


class Poller:
    """Reads one filter set's sources every `interval` s for all of its subscribers."""

    def __init__(self, sources: Mapping[str, Source], interval: float) -> None:
        self.sources = dict(sources)
        self.interval = interval
        self.latest: dict[str, bytes] = {}
        self.subscribers: set[Subscription] = set()
        self.task: asyncio.Task[None] | None = None

    def join(self, subscription: Subscription) -> None:
        for name, event in self.latest.items():  # the current figures, at once
            subscription.offer(name, event)
        self.subscribers.add(subscription)

    async def poll_once(self) -> None:
        for name, read in self.sources.items():
            try:
                model = await read()
            except Exception as exc:  # the database may be away for a while
                log.warning("metrics stream: reading %s failed: %r", name, exc)
                continue
            event = sse_event(name, model)
            if self.latest.get(name) != event:
                self.latest[name] = event
                for subscription in self.subscribers:
                    subscription.offer(name, event)

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval)


class MetricsHub:
    """The process's pollers, one per filter set that has at least one viewer."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.pollers: dict[Hashable, Poller] = {}

    @contextlib.asynccontextmanager
    async def subscribe(
        self, key: Hashable, sources: Mapping[str, Source]
    ) -> AsyncIterator[Subscription]:
        """Join `key`'s poller (`sources` are used only if this starts it)."""
        poller = self.pollers.get(key)
        if poller is None:
            poller = self.pollers[key] = Poller(sources, self.interval)
            poller.task = asyncio.create_task(poller.run(), name=f"metrics-poller {key!r}")
        subscription = Subscription()
        poller.join(subscription)
        try:
            yield subscription
        finally:
            poller.subscribers.discard(subscription)
            if not poller.subscribers and self.pollers.get(key) is poller:
                del self.pollers[key]
                if poller.task is not None:
                    poller.task.cancel()
