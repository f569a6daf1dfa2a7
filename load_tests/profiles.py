"""py-spy profiles of benchmark processes, summarized by component."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from load_tests.base import PROFILES_DIR
from load_tests.output import table
from load_tests.processes import Child, require_tool


@dataclass
class ProfileSummary:
    process: str
    samples: int
    by_component: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)
    top_project: list[tuple[str, float]] = field(default_factory=list)
    raw_file: str = ""


PROJECT_PACKAGES = ("helpstream", "api", "workers", "db", "load_tests")


def _frame_parts(frame: str) -> tuple[str, str]:
    """`func (dir/file.py:123)` -> (`func`, `dir/file.py`)."""
    func, _, rest = frame.rpartition(" (")
    location = rest.rstrip(")").rsplit(":", 1)[0]
    return (func or frame), location


def component_of(location: str) -> str:
    parts = location.split("/")
    if location.startswith("<"):
        return "python (frozen)"
    if parts[0] in PROJECT_PACKAGES and len(parts) > 1:
        return "/".join([*parts[:-1], parts[-1].removesuffix(".py")])
    if len(parts) == 1:
        return "stdlib: " + parts[0].removesuffix(".py")
    return parts[0]


def summarize_profile(path: Path, process: str, top: int = 12) -> ProfileSummary:
    """Read py-spy's raw (collapsed) output: shares of on-CPU samples (GIL held)."""
    self_time: Counter[str] = Counter()
    inclusive_project: Counter[str] = Counter()
    components: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        func, location = _frame_parts(frames[-1])
        self_time[f"{func} ({location})"] += count
        components[component_of(location)] += count
        seen: set[str] = set()
        for frame in frames:
            func, location = _frame_parts(frame)
            if location.split("/")[0] in PROJECT_PACKAGES and location != "api/cli.py":
                key = f"{func} ({location})"
                if key not in seen:
                    seen.add(key)
                    inclusive_project[key] += count
    share = 1 / total if total else 0.0
    return ProfileSummary(
        process=process,
        samples=total,
        by_component=[(k, round(v * share, 4)) for k, v in components.most_common(top)],
        top_self=[(k, round(v * share, 4)) for k, v in self_time.most_common(top)],
        top_project=[(k, round(v * share, 4)) for k, v in inclusive_project.most_common(top)],
        raw_file=str(path),
    )


class Profiler:
    """`py-spy record` of one process until `stop()` (or `max_seconds`)."""

    def __init__(self, child: Child, tag: str, max_seconds: float, rate: int = 200) -> None:
        self.child = child
        PROFILES_DIR.mkdir(parents=True, exist_ok=True)
        self.output = PROFILES_DIR / f"{tag}-{child.name}.txt"
        self.max_seconds = max_seconds
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        py_spy = require_tool("py-spy")
        self.output.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(self.child.pid),
                "--rate",
                str(self.rate),
                "--duration",
                str(max(1, int(self.max_seconds))),
                "--format",
                "raw",
                "--gil",  # on-CPU Python only: idle threads and epoll waits are not counted
                "--nonblocking",  # do not pause the target: keeps its throughput close
                "--output",
                str(self.output),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # attach before the load starts
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def summary(self) -> ProfileSummary | None:
        if not self.output.exists():
            err = b""
            if self.proc is not None and self.proc.stderr is not None:
                err = self.proc.stderr.read()
            print(f"py-spy wrote no profile: {err.decode(errors='replace')[:500]}", file=sys.stderr)
            return None
        return summarize_profile(self.output, self.child.name)


def print_profile(summary: ProfileSummary) -> None:
    print(
        f"\nWhere {summary.process} spends its on-CPU time ({summary.samples} samples, "
        f"raw stacks: {summary.raw_file})"
    )
    print(table(["component (self time)", "share"], _pct_rows(summary.by_component)))
    print(table(["hottest frames (self time)", "share"], _pct_rows(summary.top_self)))
    print(table(["helpstream functions (inclusive)", "share"], _pct_rows(summary.top_project)))


def _pct_rows(items: Sequence[tuple[str, float]]) -> list[list[str]]:
    return [[name[:110], f"{share:.1%}"] for name, share in items]
