"""What a worker does with each kind of stream: decode an event, apply a batch, sweep.

The consumer loop (`workers.consumer`) is the same for every kind; a handler plugs the
kind's domain logic into it. Handlers run inside the consumer's fenced transaction.
"""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from helpstream.events import ClickEvent, SupportEvent
from helpstream.settings import Settings
from helpstream.wire import click_from_wire, support_from_wire
from helpstream.workers.clicks import ClickSettings, apply_clicks, owned_ends, stream_event_time
from helpstream.workers.path_store import close_quiet
from helpstream.workers.rollups import RollupDelta
from helpstream.workers.support import apply_support


class StreamHandler(Protocol):
    kind: str

    def decode(self, raw: Any) -> Any:
        """One event from its wire form; raises ValueError/TypeError when malformed."""
        ...

    async def apply(
        self, conn: asyncpg.Connection, partition: int, events: list[Any], stream_time: int | None
    ) -> int | None:
        """Apply events in arrival order; returns the partition's new stream time."""
        ...

    async def sweep(
        self, conn: asyncpg.Connection, partition: int, stream_time: int | None
    ) -> None:
        """Periodic wall-clock work (closing idle state)."""
        ...

    def committed(self, partition: int) -> None:
        """The transaction that called `apply` or `sweep` for ``partition`` committed."""
        ...

    def forget(self, partition: int) -> None:
        """A consumer (re)starts on ``partition``: drop what is kept in memory about it."""
        ...


class ClickHandler:
    kind = "clicks"

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.path_timeout
        self.lateness = settings.allowed_lateness
        self.max_future_skew = settings.max_future_skew
        self._cfgs: dict[int, ClickSettings] = {}

    def _cfg(self, partition: int) -> ClickSettings:
        """One per partition, kept: it carries the partition's `RepeatedKeys` hint."""
        cfg = self._cfgs.get(partition)
        if cfg is None:
            cfg = ClickSettings(partition, self.timeout, self.lateness, self.max_future_skew)
            self._cfgs[partition] = cfg
        return cfg

    def decode(self, raw: Any) -> ClickEvent:
        return click_from_wire(raw)

    async def apply(
        self, conn: asyncpg.Connection, partition: int, events: list[Any], stream_time: int | None
    ) -> int | None:
        return await apply_clicks(conn, events, self._cfg(partition), stream_time)

    async def sweep(
        self, conn: asyncpg.Connection, partition: int, stream_time: int | None
    ) -> None:
        cfg = self._cfg(partition)
        ends = await owned_ends(conn, cfg)
        event_time = await stream_event_time(conn, stream_time, self.max_future_skew)
        ended_before = None if event_time is None else event_time - self.timeout
        closed = await close_quiet(conn, partition, ends, ended_before, float(self.timeout))
        delta = RollupDelta(partition)
        for path in closed:
            delta.add_path(path, +1)
        await delta.write(conn)

    def committed(self, partition: int) -> None:
        ends = self._cfg(partition).ends
        if ends is not None:
            ends.confirmed = True

    def forget(self, partition: int) -> None:
        self._cfg(partition).ends = None


class SupportHandler:
    """Help-desk events: projected into ticket tables; nothing to sweep."""

    kind = "support"

    def decode(self, raw: Any) -> SupportEvent:
        return support_from_wire(raw)

    async def apply(
        self, conn: asyncpg.Connection, partition: int, events: list[Any], stream_time: int | None
    ) -> int | None:
        return await apply_support(conn, events, stream_time)

    async def sweep(
        self, conn: asyncpg.Connection, partition: int, stream_time: int | None
    ) -> None:
        return None

    def committed(self, partition: int) -> None:
        return None

    def forget(self, partition: int) -> None:
        return None


def default_handlers(settings: Settings) -> dict[str, StreamHandler]:
    """Every stream kind this version of helpstream consumes."""
    handlers: list[StreamHandler] = [ClickHandler(settings), SupportHandler()]
    return {h.kind: h for h in handlers}
