"""`helpstream up`'s child processes, kept running: a crashed child is started again.

A worker or API process that dies (a crash, an OOM kill, kill -9) is restarted after a
backoff that doubles on every quick failure (1 s, 2 s, 4 s ... up to 30 s) and starts
over once a child has stayed up for a minute, so a child that cannot start does not spin
and one that crashes rarely comes back at once. Nothing else is stopped meanwhile: the
other workers take over the partitions of a dead one, and the API keeps accepting.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("helpstream")

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # seconds up after which a child's backoff starts over


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    restarts: int = field(default=0)


class Supervisor:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.children: list[Child] = []

    def add(self, name: str, argv: Sequence[str]) -> None:
        child = Child(name, list(argv))
        self.children.append(child)
        self._start(child)

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(list(child.argv), env=self.env)
        child.started_at, child.restart_at = time.monotonic(), None
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def poll(self) -> None:
        """Notice exited children and restart those whose backoff has passed."""
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if child.restart_at is None and process is not None and process.poll() is not None:
                if now - child.started_at >= STABLE_AFTER:
                    child.backoff = FIRST_BACKOFF
                child.restart_at = now + child.backoff
                log.error(
                    "%s (pid %d) exited with %s; restarting in %.0f s",
                    child.name,
                    process.pid,
                    process.returncode,
                    child.backoff,
                )
                child.backoff = min(child.backoff * 2, MAX_BACKOFF)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every running child, then SIGKILL whatever is left after ``grace``."""
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
