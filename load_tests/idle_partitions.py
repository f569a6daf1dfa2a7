"""What an idle partition costs: CPU of one idle worker (and of Redis and PostgreSQL) per count.

    python -m load_tests.idle_partitions [--seconds 30] [--counts 8 64 128]

For each partition count, fresh embedded servers, one `helpstream worker` that owns every
partition, a settle time, then CPU (in % of one core) measured over `--seconds` with no
traffic. Each owned partition costs one blocking XREAD per `worker_block_ms` (200 ms) and a
wall-clock sweep transaction per kind every `worker_sweep_seconds` (5 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from load_tests.cpu import process_cpu_seconds


def _postgres_pids(pgdata: Path) -> list[int]:
    """The embedded PostgreSQL's postmaster and its children."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("postgres") and str(pgdata) in " ".join(cmdline):
            return [process.pid, *(child.pid for child in process.children(recursive=True))]
    return []


def _cpu(pids: list[int]) -> float:
    return sum(process_cpu_seconds(pid) or 0.0 for pid in pids)


def measure(partitions: int, seconds: float, settle: float) -> dict[str, float]:
    from helpstream.embedded import EmbeddedServices

    with tempfile.TemporaryDirectory(prefix="helpstream-idle-") as tmp:
        services = EmbeddedServices(Path(tmp))
        database_url, redis_url = services.start(None, None)
        env = {
            **os.environ,
            "HELPSTREAM_DATABASE_URL": database_url,
            "HELPSTREAM_REDIS_URL": redis_url,
            "HELPSTREAM_PARTITIONS": str(partitions),
            "HELPSTREAM_LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen([sys.executable, "-m", "helpstream.cli", "worker"], env=env)
        try:
            time.sleep(settle)
            assert services.redis._process is not None
            groups = {
                "worker": [worker.pid],
                "redis": [services.redis._process.pid],
                "postgres": _postgres_pids(services.postgres.pgdata),
            }
            before = {name: _cpu(pids) for name, pids in groups.items()}
            time.sleep(seconds)
            return {
                name: 100 * (_cpu(pids) - before[name]) / seconds for name, pids in groups.items()
            }
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
            services.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--counts", type=int, nargs="+", default=[8, 64, 128])
    args = parser.parse_args()
    print("partitions  worker %core  redis %core  postgres %core")
    for count in args.counts:
        cpu = measure(count, args.seconds, args.settle)
        print(
            f"{count:>10}  {cpu['worker']:>12.1f}  {cpu['redis']:>11.1f}  {cpu['postgres']:>14.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
