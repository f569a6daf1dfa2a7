"""Dead letters against real Redis: idempotent, capped, counted; list, replay, drop; `dlq`."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from helpstream.cli import main
from helpstream.settings import Settings
from helpstream.streams import RedisClient, connect_redis, dead_letter_key, stats_key, stream_key
from helpstream.wire import PAYLOAD_FIELD, click_to_wire, encode_events
from helpstream.workers import dead_letters
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

T = 1_600_000_000


def payload(customer: int, source: int, target: int) -> dict[bytes, bytes]:
    click = click_to_wire(T, customer, source, target, False, str(uuid.uuid4()), "default")
    return {PAYLOAD_FIELD: encode_events([click])}


async def test_writing_a_dead_letter_twice_keeps_one_and_counts_one(redis: RedisClient) -> None:
    entry = (b"1700000000000-3", {PAYLOAD_FIELD: b"[]", b"reason": b"mine", b"stream": b"x"})
    assert await dead_letters.write(redis, 2, "clicks", entry, "apply failed: boom", 5, 100)
    assert not await dead_letters.write(redis, 2, "clicks", entry, "again", 5, 100)

    [(entry_id, fields)] = await redis.xrange(dead_letter_key(2, "clicks"))
    assert entry_id == b"1700000000000-3"
    assert fields[b"reason"] == b"apply failed: boom"
    assert fields[b"stream"] == b"clicks"
    assert (fields[b"entry.reason"], fields[b"entry.stream"]) == (b"mine", b"x")
    assert await redis.hget(stats_key(2), "dead_letters") == b"1"
    [letter] = await dead_letters.list_letters(redis, partitions=4)
    assert letter.ref == "2:clicks:1700000000000-3"
    assert letter.fields == {PAYLOAD_FIELD: b"[]", b"reason": b"mine", b"stream": b"x"}


async def test_dead_letter_streams_are_capped_and_every_letter_counted(redis: RedisClient) -> None:
    for seq in range(7):
        entry = (f"1700000000000-{seq}".encode(), {PAYLOAD_FIELD: b"[]"})
        assert await dead_letters.write(redis, 0, "support", entry, "bad", 1, max_entries=3)
    kept = await redis.xrange(dead_letter_key(0, "support"))
    assert [e[0] for e in kept] == [b"1700000000000-4", b"1700000000000-5", b"1700000000000-6"]
    assert await redis.hget(stats_key(0), "dead_letters") == b"7"


async def test_a_dead_letter_written_before_a_crash_is_not_written_again(
    redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    """The previous owner dead-lettered the entry and died before moving the offset past it."""
    key = stream_key(1, "clicks")
    poison = {PAYLOAD_FIELD: b'[[1001,1,28,35,false,12345,"default"]]'}
    poison_id = await redis.xadd(key, poison)
    await dead_letters.write(redis, 1, "clicks", (poison_id, poison), "earlier", 5, 100)
    worker_pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
    quick = settings.model_copy(update={"max_deliveries": 2})
    handle = WorkerHandle(quick, worker_pool, redis)
    handle.start()
    try:
        await wait_drained(redis, pool, settings.partitions)
    finally:
        await handle.shutdown()
        await worker_pool.close()
    [(entry_id, fields)] = await redis.xrange(dead_letter_key(1, "clicks"))
    assert (entry_id, fields[b"reason"]) == (poison_id, b"earlier")
    assert await redis.hget(stats_key(1), "dead_letters") == b"1"


async def test_replay_sends_a_fixed_entry_back_and_drop_deletes(
    redis: RedisClient, pool: asyncpg.Pool, worker: WorkerHandle, settings: Settings
) -> None:
    # Dead letters as an older worker (say, one with a bug since fixed) left them.
    for n, customer in enumerate((5, 9)):
        entry = (f"1600000000000-{n}".encode(), payload(customer, 1, 2))
        await dead_letters.write(redis, 1, "clicks", entry, "apply failed: bug", 5, 100)
    new_id = await dead_letters.replay(redis, 1, "clicks", "1600000000000-0")
    assert new_id is not None and new_id > "1600000000000-0"
    assert await dead_letters.replay(redis, 1, "clicks", "1600000000000-0") is None  # gone
    await wait_drained(redis, pool, settings.partitions)
    paths = await pool.fetch("SELECT customer_id, pages FROM paths ORDER BY customer_id")
    assert [(r["customer_id"], list(r["pages"])) for r in paths] == [(5, [1, 2])]

    assert await dead_letters.drop(redis, 1, "clicks", "1600000000000-1")
    assert not await dead_letters.drop(redis, 1, "clicks", "1600000000000-1")
    assert await redis.xlen(dead_letter_key(1, "clicks")) == 0


def test_dlq_command_lists_replays_and_drops(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def setup() -> None:
        redis = connect_redis(settings.redis_url or "", cluster=False)
        await redis.flushdb()
        for n in range(3):
            entry = (f"1600000000000-{n}".encode(), payload(4 * n + 2, 1, 2))
            await dead_letters.write(redis, 2, "clicks", entry, f"reason {n}", 5, 100)
        await redis.aclose()

    asyncio.run(setup())
    monkeypatch.setenv("HELPSTREAM_REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("HELPSTREAM_PARTITIONS", str(settings.partitions))

    assert main(["dlq", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ref\tdeliveries\tdead_at\treason"
    assert [line.split("\t")[0] for line in lines[1:]] == [
        f"2:clicks:1600000000000-{n}" for n in range(3)
    ]
    assert lines[2].split("\t")[3] == "reason 1"

    assert main(["dlq", "replay", "2:clicks:1600000000000-1"]) == 0
    assert "replayed as" in capsys.readouterr().out
    assert main(["dlq", "drop", "2:clicks:1600000000000-1"]) == 1  # replayed: gone
    assert main(["dlq", "replay", "2:nope:1"]) == 2
    assert main(["dlq", "drop", "--all"]) == 0
    assert capsys.readouterr().out.count(": dropped") == 2
    assert main(["dlq", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == []
