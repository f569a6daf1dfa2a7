"""HTTP measurements shared by the two ingest benchmarks: start a target, drive it with wrk."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from helpstream.aio import run_on_fastest_loop
from helpstream.streams import KINDS, stream_key
from load_tests.cpu import CpuMeter
from load_tests.isolation import BenchEnv
from load_tests.processes import Child, free_port
from load_tests.profiles import Profiler, ProfileSummary
from load_tests.wrk_runner import run_wrk

# Server loop/HTTP implementations: "auto" is what `helpstream api` runs (uvloop + httptools
# when installed, as uvicorn[standard] installs them); "asyncio-h11" is pure Python.
# variant -> (uvicorn loop, uvicorn http, server); "granian" needs `pip install granian`.
VARIANTS = {
    "auto": ("auto", "auto", "uvicorn"),
    "asyncio-h11": ("asyncio", "h11", "uvicorn"),
    "granian": ("auto", "auto", "granian"),
}


@dataclass
class Target:
    name: str  # bare | noio | app
    variant: str
    child: Child
    url: str


def start_target(env: BenchEnv, name: str, variant: str) -> Target:
    """`app` in the "auto" variant is the real `helpstream api`; the rest use
    `load_tests.servers` with the same uvicorn settings (or granian's, for "granian")."""
    loop, http, server = VARIANTS[variant]
    label = f"{name}-{variant}"
    if name == "app" and variant == "auto":
        child, url = env.start_api(label)
    else:
        port = free_port()
        argv = [sys.executable, "-m", "load_tests.servers", name, "--port", str(port)]
        argv += ["--loop", loop, "--http", http, "--server", server]
        child, url = env.start_server(label, argv, port)
    return Target(name, variant, child, url)


def measure(
    env: BenchEnv,
    target: Target,
    path: str,
    bodies: Path,
    *,
    seconds: int,
    warmup: int,
    threads: int,
    connections: int,
    headers: dict[str, str],
) -> dict[str, Any]:
    """Warm up, then one measured wrk run with CPU accounting of server, Redis and wrk."""
    url = target.url + path
    if warmup > 0:
        run_wrk(
            url,
            bodies,
            threads=threads,
            connections=connections,
            seconds=warmup,
            headers=headers,
        )
    meter = CpuMeter({"server": [target.child.pid], "redis": env.redis_pid()})
    meter.start()
    result = run_wrk(
        url, bodies, threads=threads, connections=connections, seconds=seconds, headers=headers
    )
    cpu = meter.stop({"wrk": result.wrk_cpu_seconds})
    if not target.child.alive():
        raise RuntimeError(f"{target.child.name} died during the run:\n{target.child.log_tail()}")
    return {**result.as_dict(), "cpu_cores": cpu}


def profile(
    env: BenchEnv,
    target: Target,
    path: str,
    bodies: Path,
    *,
    tag: str,
    seconds: int,
    threads: int,
    connections: int,
    headers: dict[str, str],
) -> tuple[ProfileSummary | None, float]:
    """py-spy on the target while wrk drives it; returns the profile and the (perturbed)
    throughput under profiling."""
    with Profiler(target.child, tag, max_seconds=seconds + 5) as profiler:
        result = run_wrk(
            target.url + path,
            bodies,
            threads=threads,
            connections=connections,
            seconds=seconds,
            headers=headers,
        )
    return profiler.summary(), result.ok_per_second


def trim_streams(env: BenchEnv) -> None:
    """Empty the partition streams (keeping their consumer groups) between runs."""

    async def go() -> None:
        client = aioredis.Redis.from_url(env.redis_url)
        try:
            async with client.pipeline(transaction=False) as pipe:
                for partition in range(env.partitions):
                    for kind in KINDS:
                        pipe.xtrim(stream_key(partition, kind), maxlen=0, approximate=False)
                await pipe.execute()
        finally:
            await client.aclose()

    run_on_fastest_loop(go())
