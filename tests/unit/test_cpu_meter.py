"""The benchmarks' CPU accounting counts processes that come and go during a run."""

from __future__ import annotations

import subprocess
import sys
import time

from load_tests.cpu import CpuMeter

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_a_process_that_starts_and_exits_during_the_run_is_counted() -> None:
    """Like a pooled PostgreSQL backend replaced mid-run: its CPU must not turn into `other`."""
    alive: list[int] = []
    meter = CpuMeter({"burner": lambda: alive}, every=0.05)
    outer_start = time.monotonic()
    meter.start()
    burner = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.6)])
    alive.append(burner.pid)
    burner.wait()
    alive.clear()  # gone before stop(), as a replaced pool connection is
    cores = meter.stop()
    outer_wall = time.monotonic() - outer_start
    # cores x (a wall at least the meter's) >= the CPU seconds counted: 0.6 s, less at most
    # one sampling interval lost after the last sample.
    assert cores["burner"] * outer_wall >= 0.45


def test_cpu_used_before_start_is_not_counted() -> None:
    burner = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.5) + "time.sleep(5)\n"])
    try:
        time.sleep(1.0)  # burns 0.5 s of CPU, then sleeps
        meter = CpuMeter({"burner": [burner.pid]}, every=0.05)
        meter.start()
        time.sleep(0.3)
        cores = meter.stop()
    finally:
        burner.kill()
        burner.wait()
    assert cores["burner"] < 0.2
