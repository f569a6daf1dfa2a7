"""Child processes of a benchmark: started, watched and always stopped."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from load_tests.base import INSTALL_HINTS, BenchError


def install_signal_handlers(max_seconds: float) -> None:
    """SIGTERM and the watchdog alarm unwind like Ctrl-C, so every `finally` runs."""

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchError(f"watchdog: still running after --max-seconds={max_seconds:.0f}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(max_seconds)))


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"`{name}` is not installed: {INSTALL_HINTS.get(name, '')}")
    return path


def free_port() -> int:
    from helpstream.embedded import free_port as _free_port

    return _free_port()


@dataclass
class Child:
    """A child process started by a benchmark; stopped by pid, never by name."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_http_ready(url: str, child: Child, timeout: float = 60.0) -> None:
    """Poll `url` (e.g. .../readyz) until it answers 200; fail early if the child died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not child.alive():
            raise BenchError(
                f"{child.name} exited ({child.proc.returncode}) before it was ready:\n"
                f"{child.log_tail()}"
            )
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise BenchError(f"{child.name} not ready at {url} after {timeout:.0f}s ({last})")
