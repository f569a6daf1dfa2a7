"""`helpstream demo` without --api-key: a temporary admin key, revoked when it ends."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from helpstream.cli.demo import demo_key as _demo_key
from helpstream.settings import Settings

pytestmark = pytest.mark.integration


async def _usable_keys(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
    return count


async def test_the_demo_key_is_revoked_when_the_demo_ends_even_on_failure(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    def use_key_then_fail() -> str:
        with _demo_key(settings, None) as key:
            seen.append(key)
            usable.append(asyncio.run_coroutine_threadsafe(_usable_keys(pool), loop).result())
            raise RuntimeError("the demo failed half way")

    loop = asyncio.get_running_loop()
    seen: list[str] = []
    usable: list[int] = []
    for _ in range(3):  # three runs leave no usable key behind
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(use_key_then_fail)
    assert usable == [1, 1, 1]
    assert len(set(seen)) == 3
    assert await _usable_keys(pool) == 0
    given = settings.model_copy()
    with _demo_key(given, "hs_given") as key:
        assert key == "hs_given"
