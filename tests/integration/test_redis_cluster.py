"""Redis Cluster (contract §6): by the flag and detected from the server, with an API and two
workers started the way `helpstream api` / `helpstream worker` start, paths exact, and the
partitions' keys spread over more than one node.

The cluster is three masters started from the machine's `redis-server` (skipped without it).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from helpstream.embedded import free_port
from helpstream.settings import Settings
from helpstream.workers.runner import run_worker
from tests.conftest import bearer, serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (shutil.which("redis-server") and shutil.which("redis-cli")),
        reason="redis-server and redis-cli are needed to start a local cluster",
    ),
]

CUSTOMERS = 48
T0 = 1_700_000_000


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three cluster-enabled masters on loopback, joined with `redis-cli --cluster create`."""
    root = tmp_path_factory.mktemp("redis-cluster")
    ports = [_cluster_port() for _ in range(3)]
    processes = [_start_node(root, port) for port in ports]
    try:
        nodes = [f"127.0.0.1:{p}" for p in ports]
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait_cluster_ok(ports[0])
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def _cluster_port() -> int:
    """A free port whose cluster bus (port + 10,000) exists: Redis refuses ports over 55535."""
    for _ in range(1000):
        port = free_port()
        if port <= 55535:
            return port
    raise RuntimeError("no free port at or below 55535")


def _start_node(root: Path, port: int) -> subprocess.Popen[bytes]:
    node_dir = root / str(port)
    node_dir.mkdir()
    options = {
        "port": str(port),
        "bind": "127.0.0.1",
        "dir": str(node_dir),
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "save": "",
        "appendonly": "no",
        "logfile": str(node_dir / "redis.log"),
    }
    process = subprocess.Popen(
        ["redis-server", *(arg for name, value in options.items() for arg in (f"--{name}", value))],
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while (
        subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
        ).stdout.strip()
        != b"PONG"
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)
    return process


def _wait_cluster_ok(port: int) -> None:
    deadline = time.monotonic() + 30
    while (
        b"cluster_state:ok"
        not in subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, check=False
        ).stdout
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the cluster did not reach cluster_state:ok")
        time.sleep(0.1)


@pytest_asyncio.fixture
async def empty_cluster(cluster_ports: list[int]) -> AsyncIterator[list[int]]:
    for port in cluster_ports:
        node = aioredis.Redis(port=port)
        await node.flushall()
        await node.aclose()
    yield cluster_ports


def _clicks(customer: int) -> list[dict[str, object]]:
    """Each customer: 11 → 28 → 35 → 42, resolved (posted newest first: order must not matter)."""
    t = T0 + customer
    return [
        {"timestamp": t + 120, "customer_id": customer, "source_page_id": 35,
         "target_page_id": 42, "is_resolved": True},
        {"timestamp": t + 60, "customer_id": customer, "source_page_id": 28,
         "target_page_id": 35},
        {"timestamp": t, "customer_id": customer, "source_page_id": 11, "target_page_id": 28},
    ]  # fmt: skip


async def _resolved_paths(client: httpx.AsyncClient, within: float = 60) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        page = (await client.get("/v1/paths", params={"status": "resolved", "limit": 1000})).json()
        if len(page["items"]) >= CUSTOMERS or loop.time() > deadline:
            return list(page["items"])
        await asyncio.sleep(0.1)


async def _nodes_holding_keys(ports: list[int]) -> dict[int, int]:
    """Per node: how many helpstream keys it holds."""
    held = {}
    for port in ports:
        node = aioredis.Redis(port=port)
        held[port] = len([key async for key in node.scan_iter(match="hs:*")])
        await node.aclose()
    return held


@pytest.mark.parametrize("flag", [True, False], ids=["flag", "detected"])
async def test_cluster_api_and_two_workers_give_exact_paths(
    flag: bool,
    empty_cluster: list[int],
    settings: Settings,
    pool: asyncpg.Pool,
    api_keys: dict[str, str],
) -> None:
    cluster_settings = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{empty_cluster[0]}/0",
            "redis_cluster": flag,
            "partitions": 8,
            "startup_wait_seconds": 5,
        }
    )
    stop = asyncio.Event()
    workers = [asyncio.create_task(run_worker(cluster_settings, stop)) for _ in range(2)]
    try:
        async with (
            serve(cluster_settings) as url,
            httpx.AsyncClient(base_url=url, timeout=30, headers=bearer(api_keys["admin"])) as c,
        ):
            for start in range(0, CUSTOMERS, 16):
                events = [e for n in range(start, start + 16) for e in _clicks(n)]
                response = await c.post("/v1/clicks/batch", json={"events": events})
                assert response.status_code == 202, response.text
            single = await c.post("/v1/clicks", json=_clicks(CUSTOMERS)[2])
            assert single.status_code == 202, single.text
            paths = await _resolved_paths(c)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=30)

    assert sorted((p["customer_id"], p["path"]) for p in paths) == [
        (n, [11, 28, 35, 42]) for n in range(CUSTOMERS)
    ]
    assert all(p["path_start_timestamp"] == T0 + p["customer_id"] for p in paths)
    assert all(p["path_end_timestamp"] == T0 + p["customer_id"] + 120 for p in paths)
    held = await _nodes_holding_keys(empty_cluster)
    assert sum(1 for count in held.values() if count) >= 2, held
