"""One log format for helpstream and uvicorn; JSON on request; worker context on records."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config
from collections.abc import Iterator

import orjson
import pytest

from helpstream.log_config import logging_config, partition_context, worker_id_var


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A stream the test's logging config writes to; logging is restored afterwards."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = [
        (lg, list(lg.handlers), list(lg.filters), lg.level, lg.propagate)
        for lg in (logging.getLogger(n) for n in names)
    ]
    yield io.StringIO()
    for lg, handlers, filters, level, propagate in saved:
        lg.handlers[:], lg.filters[:] = handlers, filters
        lg.setLevel(level)
        lg.propagate = propagate


def _apply(level: str, fmt: str, out: io.StringIO) -> None:
    config = logging_config(level, fmt)
    config["handlers"]["default"]["stream"] = out
    logging.config.dictConfig(config)


def test_uvicorn_and_helpstream_share_one_format_and_level(captured: io.StringIO) -> None:
    _apply("WARNING", "text", captured)
    logging.getLogger("uvicorn.error").info("hidden")
    logging.getLogger("helpstream.x").info("hidden too")
    logging.getLogger("uvicorn.error").warning("from uvicorn")
    logging.getLogger("helpstream.x").warning("from helpstream")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" WARNING uvicorn.error: from uvicorn")
    assert lines[1].endswith(" WARNING helpstream.x: from helpstream")
    assert lines[0][:4].isdigit()  # both start with the same timestamp format


def test_json_records_carry_worker_and_partition(captured: io.StringIO) -> None:
    _apply("INFO", "json", captured)
    log = logging.getLogger("helpstream.workers.consumer")

    async def worker() -> None:
        worker_id_var.set("host:1:abc")
        log.info("before any partition")

        async def consume() -> None:
            log.warning("batch failed")

        await asyncio.create_task(consume(), context=partition_context(3))

    asyncio.run(worker())
    first, second = (orjson.loads(line) for line in captured.getvalue().splitlines())
    assert first["worker_id"] == "host:1:abc" and "partition" not in first
    assert second == {
        "time": second["time"],
        "level": "WARNING",
        "logger": "helpstream.workers.consumer",
        "message": "batch failed",
        "worker_id": "host:1:abc",
        "partition": 3,
    }
    assert second["time"].endswith("+00:00")


def test_text_records_show_the_context(captured: io.StringIO) -> None:
    _apply("INFO", "text", captured)
    context = partition_context(5)
    context.run(logging.getLogger("helpstream.workers").info, "took it")
    assert captured.getvalue().rstrip().endswith("helpstream.workers [partition=5]: took it")
