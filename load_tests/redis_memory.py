"""Redis memory per million buffered events: POST through the API with no worker running.

    python -m load_tests.redis_memory [--events 1000000] [--batch 1000] [--partitions 64]

Fresh embedded servers, one `helpstream api`, no worker (so nothing is applied or trimmed);
`INFO memory` used_memory before and after, per million events, for click batches shaped like
the benchmarks' (event_id set, a variant).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not become ready")


def _batch(start: int, size: int) -> dict[str, object]:
    return {
        "events": [
            {"timestamp": 1_700_000_000 + i // 100, "customer_id": i % 100_003,
             "source_page_id": i % 97, "target_page_id": (i + 1) % 97,
             "event_id": str(uuid.UUID(int=i + 1)), "variant": "A"}
            for i in range(start, start + size)
        ]
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=64)
    args = parser.parse_args()

    from helpstream.embedded import EmbeddedServices, free_port
    from helpstream.keys import create_key

    with tempfile.TemporaryDirectory(prefix="helpstream-mem-") as tmp:
        services = EmbeddedServices(Path(tmp))
        database_url, redis_url = services.start(None, None)
        port = free_port()
        env = {**os.environ, "HELPSTREAM_DATABASE_URL": database_url,
               "HELPSTREAM_REDIS_URL": redis_url, "HELPSTREAM_PORT": str(port),
               "HELPSTREAM_PARTITIONS": str(args.partitions), "HELPSTREAM_MAX_BACKLOG": "10000000",
               "HELPSTREAM_LOG_LEVEL": "WARNING"}  # fmt: skip
        api = subprocess.Popen([sys.executable, "-m", "helpstream.cli", "api"], env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_up(url)
            import asyncio

            import asyncpg

            async def make_key() -> str:
                conn = await asyncpg.connect(database_url)
                try:
                    return (await create_key(conn, "ingest", "bench")).key
                finally:
                    await conn.close()

            key = asyncio.run(make_key())
            client = redis.Redis.from_url(redis_url)
            before = int(client.info("memory")["used_memory"])
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
                for start in range(0, args.events, args.batch):
                    response = http.post("/v1/clicks/batch", json=_batch(start, args.batch))
                    response.raise_for_status()
            after = int(client.info("memory")["used_memory"])
            entries = sum(int(client.xlen(f"hs:{{p{p}}}:clicks")) for p in range(args.partitions))
            per_million = (after - before) / args.events * 1_000_000
            print(
                f"{args.events} events in {entries} stream entries ({args.partitions} partitions,"
                f" batches of {args.batch}): used_memory {before / 2**20:.1f} MiB -> "
                f"{after / 2**20:.1f} MiB = {per_million / 2**20:.0f} MiB per million events "
                f"({(after - before) / args.events:.0f} bytes/event)"
            )
        finally:
            api.terminate()
            api.wait(30)
            services.stop()


if __name__ == "__main__":
    main()
