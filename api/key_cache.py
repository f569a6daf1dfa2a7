"""Which key a request carries, without a database round trip per request.

`KeyCache` remembers each prefix's row (or its absence) for `key_cache_seconds`, so a
revocation takes effect within that time in every process (at once in the process that
revoked). `last_used_at` is collected in memory and written in one statement per cache
period, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time

import asyncpg

from helpstream.api.errors import ServiceUnavailable
from helpstream.keys import KEY_PATTERN, ApiKey, fetch_active_key, hash_key, record_last_used

log = logging.getLogger(__name__)


class KeyCache:
    """Prefix → active key (or None), each entry trusted for `ttl` seconds."""

    def __init__(self, pool: asyncpg.Pool, ttl: float, max_entries: int = 10_000) -> None:
        self.pool = pool
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        # Tokens that matched their key's hash, until their prefix's entry expires: a
        # repeat caller skips the pattern and the hash (a tenth of a click request). At
        # most one per active key, as a prefix has one secret.
        self._verified: dict[str, tuple[float, ApiKey]] = {}
        self._loading: dict[str, asyncio.Future[ApiKey | None]] = {}
        self._used: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        # A flood of made-up keys may not take the pool's connections from real requests.
        self._lookups = asyncio.Semaphore(2)

    async def authenticate(self, token: str) -> ApiKey | None:
        """The active key `token` names, or None; no database call while cached."""
        key = self.remembered(token)
        if key is None:
            key = await self._authenticate(token)
            if key is not None:
                self._used[key.id] = time.time()
        return key

    def remembered(self, token: str) -> ApiKey | None:
        """The key of a token that matched it within the cache period, else None (then
        ask `authenticate`). Not a coroutine: the click fast path asks it first."""
        verified = self._verified.get(token)
        if verified is None or verified[0] <= time.monotonic():
            return None
        self._used[verified[1].id] = time.time()
        return verified[1]

    async def _authenticate(self, token: str) -> ApiKey | None:
        match = KEY_PATTERN.fullmatch(token)
        if match is None:
            return None
        prefix = match[1]
        entry = self._entries.get(prefix)
        if entry is not None and entry[0] > time.monotonic():
            key = entry[1]
        else:
            key = await self._load(prefix, stale=entry)
        if key is None or not hmac.compare_digest(key.key_hash, hash_key(token)):
            return None
        remembered = self._entries.get(prefix)
        if remembered is not None:
            self._verified[token] = (remembered[0], key)
        return key

    def invalidate(self, prefix: str | None = None) -> None:
        """Forget one prefix (or all), e.g. right after revoking in this process."""
        if prefix is None:
            self._entries.clear()
            self._verified.clear()
        else:
            self._entries.pop(prefix, None)
            self._verified = {t: v for t, v in self._verified.items() if v[1].prefix != prefix}

    async def _load(self, prefix: str, stale: tuple[float, ApiKey | None] | None) -> ApiKey | None:
        """One query per prefix at a time, however many requests wait for it."""
        loading = self._loading.get(prefix)
        if loading is None:
            loading = asyncio.ensure_future(self._fetch_and_remember(prefix, stale))
            self._loading[prefix] = loading
            loading.add_done_callback(lambda _: self._loading.pop(prefix, None))
        # Shielded: a client that disconnects does not cancel the lookup others await.
        return await asyncio.shield(loading)

    async def _fetch_and_remember(
        self, prefix: str, stale: tuple[float, ApiKey | None] | None
    ) -> ApiKey | None:
        try:
            key = await self._fetch(prefix)
        except Exception as exc:
            log.warning("API key lookup failed: %r", exc)
            if stale is None:
                raise ServiceUnavailable("cannot verify the API key now; retry later", 2) from None
            # PostgreSQL unreachable: keep trusting what we knew (ingest needs only Redis)
            # and ask again after another period.
            key = stale[1]
        self._remember(prefix, key)
        return key

    async def _fetch(self, prefix: str) -> ApiKey | None:
        async with self._lookups, asyncio.timeout(2.0):
            return await fetch_active_key(self.pool, prefix)

    def _remember(self, prefix: str, key: ApiKey | None) -> None:
        now = time.monotonic()
        if len(self._entries) >= self.max_entries:
            # Bounded memory under a flood of made-up keys: drop expired entries first,
            # then the oldest quarter.
            self._entries = {p: e for p, e in self._entries.items() if e[0] > now}
            self._verified = {t: v for t, v in self._verified.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 4]:
                    del self._entries[old]
        self._entries[prefix] = (now + self.ttl, key)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="key-last-used")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush_last_used()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(self.ttl, 1.0))
            try:
                await self.flush_last_used()
            except Exception as exc:  # best effort: a later flush carries newer times
                log.warning("recording API key use failed: %r", exc)

    async def flush_last_used(self) -> None:
        used, self._used = self._used, {}
        if not used:
            return
        async with asyncio.timeout(5.0):
            await record_last_used(self.pool, used)
