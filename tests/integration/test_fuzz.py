"""Schemathesis against the app's own /openapi.json on the real server, with an admin key.

All of schemathesis' checks run (no 5xx, status codes, content types, headers and bodies
as documented, schema-violating input rejected, auth enforced, 405s with Allow, ...) in
its examples, coverage, fuzzing and stateful phases. One exception: "schema-valid input
accepted" is off for the read endpoints whose parameters carry meaning JSON Schema cannot
express (an opaque `cursor`; report dates where `to` may not precede `from`), which are
rightly answered 422 (the stream takes the report dates too). The live event stream
(`GET /v1/metrics/stream`) never ends by itself: schemathesis reads its first three
events (the figures every stream starts with) and checks each against the documented
event schema.

Afterwards every event the fuzzer got accepted must have been applied by the worker
without a dead letter: a 202 promises that. Bounded for CI (about a minute); more with
HELPSTREAM_FUZZ_EXAMPLES, another seed with HELPSTREAM_FUZZ_SEED.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from helpstream.keys import create_key
from helpstream.settings import Settings
from helpstream.streams import KINDS, RedisClient, dead_letter_key
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

# Every check on (in the file: `--checks all` on the command line would override the
# per-operation exception).
CONFIG = """
[checks]
enabled = true

[[operations]]
include-path-regex = "^/v1/(paths|reports/|metrics/stream)"
checks.positive_data_acceptance.enabled = false

# Ingest: a timestamp more than max_future_skew ahead of the clock is a 422 (contract §3),
# a bound that moves with time and that JSON Schema cannot state; every other check runs.
[[operations]]
include-path-regex = "^/v1/(clicks|support-events)"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path = "/v1/metrics/stream"
max-stream-events = 3
"""
NOT_FUZZED = 0  # operations disabled above (still counted in the report's total)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)  # about 4 min on a loaded 2-core machine; the default is 300 s
async def test_fuzz_finds_no_server_error_and_no_schema_violation(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    pool: asyncpg.Pool,
    redis: RedisClient,
    settings: Settings,
    tmp_path: Path,
) -> None:
    key = await create_key(pool, "admin", "fuzzer")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(api.base_url).rstrip("/") + "/openapi.json",
        "--header",
        f"Authorization: Bearer {key.key}",
        "--max-examples",
        os.environ.get("HELPSTREAM_FUZZ_EXAMPLES", "30"),
        "--seed",
        os.environ.get("HELPSTREAM_FUZZ_SEED", "20240601"),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        cwd=ROOT,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks",  # it must not revoke its own key
            "HELPSTREAM_FUZZ_KEY_ID": str(key.id),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    print(
        f"schemathesis: {cases['generated']} test cases over {result['operations']['tested']} "
        f"operations, {cases['with_failures']} failing, in {result['running_time']:.0f} s"
    )
    assert process.returncode == 0, text[-20_000:]
    assert result["failures"] == [] and result["errors"] == [], text[-20_000:]
    assert result["warnings"]["missing_auth"] == [], "the fuzzer's key stopped working"
    assert result["operations"]["tested"] == result["operations"]["total"] - NOT_FUZZED
    assert cases["generated"] >= 500

    await wait_drained(redis, pool, settings.partitions, within=60)
    for partition in range(settings.partitions):
        for kind in KINDS:
            dead = await redis.xrange(dead_letter_key(partition, kind), count=3)
            assert dead == [], f"accepted events could not be applied: {dead}"
