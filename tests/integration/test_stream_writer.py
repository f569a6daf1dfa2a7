"""`StreamWriter` writes the same entries and counters by script as by pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from helpstream.api.ingest import StreamEntry, StreamWriter
from helpstream.streams import RedisClient, stats_key, stream_key
from helpstream.wire import PAYLOAD_FIELD

pytestmark = pytest.mark.integration

REQUESTS = [
    [StreamEntry(0, "clicks", b"[1]", 1), StreamEntry(3, "clicks", b"[2,3]", 2)],
    [StreamEntry(3, "clicks", b"[4]", 1)],
    [StreamEntry(3, "support", b"[5,6,7]", 3), StreamEntry(0, "clicks", b"[8]", 1)],
    [],  # a request with nothing for any partition
]


async def written(redis: RedisClient) -> dict[str, object]:
    """Every stream's payloads in order, and the ingest counters."""
    seen: dict[str, object] = {}
    for partition in (0, 3):
        for kind in ("clicks", "support"):
            entries = await redis.xrange(stream_key(partition, kind)) or []
            seen[stream_key(partition, kind)] = [fields for _, fields in entries]
        seen[stats_key(partition)] = await redis.hgetall(stats_key(partition))
    return seen


async def write_concurrently(writer: StreamWriter) -> None:
    """The requests at once, so that they share flushes; each answered once written."""
    writer.start()
    try:
        await asyncio.gather(*(writer.append(entries) for entries in REQUESTS))
    finally:
        await writer.stop()


async def test_script_and_pipeline_write_the_same(redis: RedisClient) -> None:
    by_script = StreamWriter(redis)
    assert by_script._append_script is not None  # a single server here
    await write_concurrently(by_script)
    scripted = await written(redis)
    await redis.flushdb()

    by_pipeline = StreamWriter(redis)
    by_pipeline._append_script = None  # as on a cluster
    await write_concurrently(by_pipeline)
    assert await written(redis) == scripted

    assert scripted[stream_key(3, "clicks")] == [
        {PAYLOAD_FIELD: b"[2,3]"},
        {PAYLOAD_FIELD: b"[4]"},
    ]
    assert scripted[stats_key(0)] == {b"clicks_ingested_events": b"2"}
    assert scripted[stats_key(3)] == {
        b"clicks_ingested_events": b"3",
        b"support_ingested_events": b"3",
    }
    assert by_script.written_bytes == by_pipeline.written_bytes == {"clicks": 14, "support": 7}


async def test_a_flush_after_the_scripts_are_flushed_still_writes(redis: RedisClient) -> None:
    """A restarted Redis has forgotten the script: it is loaded again, nothing fails."""
    writer = StreamWriter(redis)
    writer.start()
    try:
        await writer.append([StreamEntry(0, "clicks", b"[1]", 1)])
        await redis.script_flush()
        await writer.append([StreamEntry(0, "clicks", b"[2]", 1)])
    finally:
        await writer.stop()
    assert await redis.xlen(stream_key(0, "clicks")) == 2


async def test_a_large_queue_goes_in_several_flushes_of_bounded_size(
    redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush's payloads travel as one string: past `FLUSH_BYTES` the rest of the queue
    waits for the next flush; every request is still written, in order, and answered."""
    monkeypatch.setattr("helpstream.api.ingest.FLUSH_BYTES", 10)
    writer = StreamWriter(redis)
    flushed: list[int] = []
    flush = writer._flush

    async def counted(batch: list[tuple[Sequence[StreamEntry], asyncio.Future[None]]]) -> None:
        flushed.append(len(batch))
        await flush(batch)

    writer._flush = counted  # type: ignore[method-assign]
    payloads = [b"[%d,%d]" % (i, i) for i in range(20)]  # 5-6 bytes each
    writer.start()
    try:
        await asyncio.gather(*(writer.append([StreamEntry(0, "clicks", p, 1)]) for p in payloads))
    finally:
        await writer.stop()
    entries = await redis.xrange(stream_key(0, "clicks")) or []
    assert [fields[PAYLOAD_FIELD] for _, fields in entries if fields] == payloads
    assert len(flushed) >= 10 and max(flushed) <= 2 and sum(flushed) == 20
