"""Isolated servers for a benchmark: its own database and Redis db, or embedded ones."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from helpstream.aio import run_on_fastest_loop
from load_tests.args import parse_settings
from load_tests.base import LOOPBACK, REPO_ROOT, SERVER_INFO, BenchError
from load_tests.cpu import postgres_backends
from load_tests.processes import Child, free_port, wait_http_ready


def _check_local_postgres(url: str) -> None:
    parts = urlsplit(url)
    socket_host = parse_qs(parts.query).get("host", [""])[0]
    if parts.hostname in LOOPBACK or (parts.hostname is None and socket_host.startswith("/")):
        return
    if parts.hostname is None and not socket_host:
        return  # libpq default: the local Unix socket
    raise BenchError(f"only local servers are benchmarked; {parts.hostname!r} is not loopback")


def _check_local_redis(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "unix" or parts.hostname in LOOPBACK:
        return
    raise BenchError(f"only local servers are benchmarked; {parts.hostname!r} is not loopback")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    if path:
        return int(path)
    db = parse_qs(urlsplit(url).query).get("db", ["0"])[0]
    return int(db)


async def recreate_database(url: str) -> None:
    name = database_name(url)
    if "bench" not in name or not name.replace("_", "").isalnum():
        raise BenchError(
            f"refusing to drop database {name!r}: benchmark databases must have 'bench' in "
            "their name (letters, digits and _ only)"
        )
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def flush_redis(url: str, embedded: bool) -> dict[str, str]:
    """FLUSHDB the benchmark's Redis DB after checking it holds nothing foreign."""
    if redis_db(url) == 0 and not embedded:
        raise BenchError("refusing to FLUSHDB Redis DB 0 of a shared server: pick another DB")
    client = aioredis.Redis.from_url(url)
    try:
        foreign: list[bytes] = []
        scanned = 0
        async for key in client.scan_iter(count=500):
            scanned += 1
            if not key.startswith((b"hs:", b"bench:")):
                foreign.append(key)
            if scanned >= 2000 or foreign:
                break
        if foreign:
            raise BenchError(
                f"refusing to FLUSHDB {url}: it holds keys that are neither helpstream's nor "
                f"the benchmarks' (e.g. {foreign[0]!r}); choose another --redis-url"
            )
        await client.flushdb()
        config: dict[str, str] = {}
        for name in ("appendonly", "appendfsync"):
            with contextlib.suppress(Exception):
                value = await client.config_get(name)
                config[name] = str(next(iter(value.values()), "?"))
        info = await client.info("server")
        config["redis_version"] = str(info.get("redis_version", "?"))
        config["process_id"] = str(info.get("process_id", ""))
        return config
    finally:
        await client.aclose()


async def postgres_settings(database_url: str) -> dict[str, str]:
    """The server settings that change write-path numbers, for the results."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            [
                "server_version",
                "autovacuum",
                "synchronous_commit",
                "fsync",
                "shared_buffers",
                "max_wal_size",
            ],
        )
        return {r["name"]: r["setting"] for r in rows}
    finally:
        await conn.close()


async def create_keys(database_url: str, scopes: Sequence[str]) -> list[str]:
    """New API keys for `scopes` (in order); empty strings when this build has no auth."""
    from helpstream.db.migrate import migrate_url

    await migrate_url(database_url)
    try:
        from helpstream.keys import create_key
    except ImportError:  # a build without API keys: requests go without Authorization
        return ["" for _ in scopes]
    conn = await asyncpg.connect(database_url)
    try:
        return [
            (await create_key(conn, scope, f"load-test-{scope}-{i}")).key  # type: ignore[arg-type]
            for i, scope in enumerate(scopes)
        ]
    finally:
        await conn.close()


def auth_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


class BenchEnv:
    """Fresh servers for one benchmark, and the child processes it starts."""

    def __init__(self, args: argparse.Namespace, name: str) -> None:
        self.args = args
        self.name = name
        self.partitions: int = args.partitions
        self.settings = parse_settings(args.settings)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"helpstream-{name}-"))
        self.children: list[Child] = []
        self.database_url = ""
        self.redis_url = ""
        self.redis_config: dict[str, str] = {}
        self.postgres_config: dict[str, str] = {}
        self._embedded: Any = None
        self._failed = False

    def __enter__(self) -> BenchEnv:
        try:
            if self.args.embedded:
                from helpstream.embedded import EmbeddedServices

                self._embedded = EmbeddedServices(self.workdir / "servers")
                db_url, self.redis_url = self._embedded.start(None, None)
                self.database_url = with_database(db_url, "helpstream_bench")
            else:
                self.database_url, self.redis_url = self.args.database_url, self.args.redis_url
            _check_local_postgres(self.database_url)
            _check_local_redis(self.redis_url)
            self.reset()
        except BaseException:
            self._failed = True
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        failed = self._failed or exc_type is not None
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        if failed:
            for child in self.children:
                if child.proc.returncode not in (0, None, -signal.SIGTERM):
                    print(f"--- {child.name} log tail ---\n{child.log_tail()}", file=sys.stderr)
        self.children.clear()
        if self._embedded is not None:
            with contextlib.suppress(Exception):
                self._embedded.stop()
            self._embedded = None
        if self.args.keep_logs or failed:
            print(f"(logs kept in {self.workdir})", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def reset(self) -> None:
        """A new, migrated database and an empty Redis DB."""

        async def go() -> None:
            await recreate_database(self.database_url)
            self.redis_config = await flush_redis(self.redis_url, bool(self.args.embedded))
            from helpstream.db.migrate import migrate_url

            await migrate_url(self.database_url)
            self.postgres_config = await postgres_settings(self.database_url)
            redis_info = {k: v for k, v in self.redis_config.items() if k != "process_id"}
            SERVER_INFO.update(postgres=self.postgres_config, redis=redis_info)

        run_on_fastest_loop(go())
        if self.postgres_config.get("autovacuum") == "off" and not getattr(self, "_warned", False):
            self._warned = True
            print(
                "note: autovacuum is off on this PostgreSQL server: tables the worker churns "
                "(paths) are never analyzed or vacuumed during a run, so plans and bloat get "
                "worse than on a default server (try --embedded for comparison)",
                file=sys.stderr,
            )

    def keys(self, *scopes: str) -> list[str]:
        return run_on_fastest_loop(create_keys(self.database_url, scopes))

    def child_env(self, **overrides: str) -> dict[str, str]:
        """The environment of API/worker processes: only the benchmark's HELPSTREAM_ vars."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPSTREAM_")}
        env["HELPSTREAM_DATABASE_URL"] = self.database_url
        env["HELPSTREAM_REDIS_URL"] = self.redis_url
        env["HELPSTREAM_PARTITIONS"] = str(self.partitions)
        for name, value in {**self.settings, **overrides}.items():
            env["HELPSTREAM_" + name.upper()] = value
        return env

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=REPO_ROOT,
                env=dict(env) if env is not None else self.child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children
            )
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def start_server(self, name: str, argv: Sequence[str], port: int) -> tuple[Child, str]:
        """Start an HTTP server child and wait until /readyz answers 200."""
        child = self.spawn(name, argv)
        url = f"http://127.0.0.1:{port}"
        wait_http_ready(url + "/readyz", child)
        return child, url

    def start_api(self, name: str = "api") -> tuple[Child, str]:
        """The real `helpstream api` (uvicorn with loop/http "auto": uvloop + httptools)."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "helpstream.cli",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        return self.start_server(name, argv, port)

    def start_worker(self, name: str = "worker") -> Child:
        """The real `helpstream worker`."""
        return self.spawn(name, [sys.executable, "-m", "helpstream.cli", "worker"])

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def postgres_pids(self) -> list[int]:
        return postgres_backends(database_name(self.database_url))

    def redis_pid(self) -> list[int]:
        pid = self.redis_config.get("process_id", "")
        return [int(pid)] if pid.isdigit() and Path(f"/proc/{pid}").exists() else []
