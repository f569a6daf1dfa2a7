"""Where benchmarks keep things and the errors they raise."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TypeVar

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
# HELPSTREAM_BENCH_RESULTS_DIR: elsewhere than the recorded results (CI's smoke runs use it).
RESULTS_DIR = Path(os.environ.get("HELPSTREAM_BENCH_RESULTS_DIR") or PACKAGE_DIR / "results")
PROFILES_DIR = RESULTS_DIR / "profiles"
WRK_SCRIPT = PACKAGE_DIR / "wrk_post.lua"

# `tests.traffic` (the integration tests' traffic generator) is imported from the work tree.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# PostgreSQL and Redis settings of the last BenchEnv, written into every result.
SERVER_INFO: dict[str, dict[str, str]] = {}

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/helpstream_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

INSTALL_HINTS = {
    "wrk": "install it with `apt-get update && apt-get install -y wrk`",
    "redis-benchmark": "it comes with Redis: `apt-get install -y redis-tools`",
    "py-spy": "install it into the venv with `pip install py-spy` (profiling needs root "
    "or ptrace permission)",
}

T = TypeVar("T")


class BenchError(Exception):
    """A benchmark could not run (bad setup, a child died, a tool is missing)."""
