"""What every benchmark shares: isolated servers, child processes, load tools, CPU accounting,
profiles and output.

Isolation: a benchmark drops and re-creates its own PostgreSQL database (the name must contain
"bench"; default `helpstream_bench` on 127.0.0.1:5432) and FLUSHDBs its own Redis database
(default 13 on 127.0.0.1:6379, never 0), or, with `--embedded`, starts a private PostgreSQL
and Redis from the project's wheels in a temporary directory. Only loopback servers are
accepted. Every loop is bounded in count and time, and a watchdog (`--max-seconds`) ends a
benchmark that hangs; child processes are stopped on every way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
RESULTS_DIR = PACKAGE_DIR / "results"
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


# --------------------------------------------------------------------------- arguments


def bench_main(
    name: str,
    build_parser: Callable[[], argparse.ArgumentParser],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
) -> int:
    """A benchmark's command line: 2 when it could not run, 1 on a missed target with --check."""
    args = build_parser().parse_args(argv)
    install_signal_handlers(args.max_seconds)
    try:
        result = run(args)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    return 1 if args.check and result["verdict"] != "PASS" else 0


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("servers (isolated from test data)")
    group.add_argument(
        "--database-url",
        default=os.environ.get("HELPSTREAM_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database to DROP and re-create; its name must contain 'bench' "
        "(default: %(default)s, or HELPSTREAM_BENCH_DATABASE_URL)",
    )
    group.add_argument(
        "--redis-url",
        default=os.environ.get("HELPSTREAM_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis database to FLUSHDB; not DB 0 (default: %(default)s, or "
        "HELPSTREAM_BENCH_REDIS_URL)",
    )
    group.add_argument(
        "--embedded",
        action="store_true",
        help="start a private PostgreSQL and Redis (AOF everysec, like `helpstream up`) in a "
        "temporary directory instead",
    )
    group.add_argument("--partitions", type=int, default=8, help="HELPSTREAM_PARTITIONS")
    group.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra helpstream setting for the API/worker processes, e.g. "
        "--set worker_batch_entries=500 (repeatable)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, sample the server/worker with py-spy and print where time goes",
    )
    run.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    run.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="watchdog: abort (cleanly) after this long (default %(default)s)",
    )
    run.add_argument(
        "--keep-logs", action="store_true", help="keep the child processes' logs directory"
    )
    run.add_argument("--seed", type=int, default=2018, help="traffic generator seed")


def parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BenchError(f"--set wants NAME=VALUE, got {pair!r}")
        out[name.strip().upper().removeprefix("HELPSTREAM_")] = value
    return out


# --------------------------------------------------------------------------- process life


def install_signal_handlers(max_seconds: float) -> None:
    """SIGTERM and the watchdog alarm unwind like Ctrl-C, so every `finally` runs."""

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchError(f"watchdog: still running after --max-seconds={max_seconds:.0f}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(max_seconds)))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh loop (uvloop when installed, as the servers use it)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result: T = runner.run(coro)
        return result


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"`{name}` is not installed: {INSTALL_HINTS.get(name, '')}")
    return path


def free_port() -> int:
    from api.embedded import free_port as _free_port

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


# --------------------------------------------------------------------------- isolation


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
    from db.migrate import migrate_url

    await migrate_url(database_url)
    try:
        from api.auth import create_key
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
                from api.embedded import EmbeddedServices

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
            from db.migrate import migrate_url

            await migrate_url(self.database_url)
            self.postgres_config = await postgres_settings(self.database_url)
            redis_info = {k: v for k, v in self.redis_config.items() if k != "process_id"}
            SERVER_INFO.update(postgres=self.postgres_config, redis=redis_info)

        run_async(go())
        if self.postgres_config.get("autovacuum") == "off" and not getattr(self, "_warned", False):
            self._warned = True
            print(
                "note: autovacuum is off on this PostgreSQL server: tables the worker churns "
                "(paths) are never analyzed or vacuumed during a run, so plans and bloat get "
                "worse than on a default server (try --embedded for comparison)",
                file=sys.stderr,
            )

    def keys(self, *scopes: str) -> list[str]:
        return run_async(create_keys(self.database_url, scopes))

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
        argv = [sys.executable, "-m", "api.cli", "api", "--host", "127.0.0.1", "--port", str(port)]
        return self.start_server(name, argv, port)

    def start_worker(self, name: str = "worker") -> Child:
        """The real `helpstream worker`."""
        return self.spawn(name, [sys.executable, "-m", "api.cli", "worker"])

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def postgres_pids(self) -> list[int]:
        return postgres_backends(database_name(self.database_url))

    def redis_pid(self) -> list[int]:
        pid = self.redis_config.get("process_id", "")
        return [int(pid)] if pid.isdigit() and Path(f"/proc/{pid}").exists() else []


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (None once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine (all cores) has been busy since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


PidSource = Sequence[int] | Callable[[], Sequence[int]]


def postgres_backends(database: str) -> list[int]:
    """PostgreSQL server processes serving `database` (found by their process title,
    "postgres: [cluster: ]user database host state"), without asking the server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU used by groups of processes (and by the whole machine) between start and stop.

    Reported in cores (1.0 = one core busy all the time). A group is a list of pids or a
    function returning them (asked at start and at stop: a process that appeared meanwhile
    counts with all its CPU). `other` is what processes outside the benchmark used
    meanwhile: on a busy machine every number is noisier and lower.
    """

    def __init__(self, groups: Mapping[str, PidSource]) -> None:
        self.groups = dict(groups)
        self._start: tuple[float, float, dict[str, dict[int, float]]] | None = None

    def _sample(self) -> tuple[float, float, dict[str, dict[int, float]]]:
        per_group: dict[str, dict[int, float]] = {}
        for name, source in self.groups.items():
            pids = source() if callable(source) else source
            per_group[name] = {}
            for pid in pids:
                seconds = process_cpu_seconds(pid)
                if seconds is not None:
                    per_group[name][pid] = seconds
        return time.monotonic(), machine_busy_seconds(), per_group

    def start(self) -> None:
        self._start = self._sample()

    def stop(self, extra: Mapping[str, float] | None = None) -> dict[str, float]:
        """Cores used per group, plus `machine` and `other`; `extra`: CPU seconds of
        processes measured another way (the load generator)."""
        assert self._start is not None, "start() first"
        t0, busy0, groups0 = self._start
        t1, busy1, groups1 = self._sample()
        wall = max(t1 - t0, 1e-9)
        out: dict[str, float] = {}
        for name in self.groups:
            before, after = groups0[name], groups1[name]
            out[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) / wall
        for name, seconds in (extra or {}).items():
            out[name] = seconds / wall
        out["machine"] = (busy1 - busy0) / wall
        out["other"] = max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine"))
        return {k: round(v, 3) for k, v in out.items()}


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    latency_ms: dict[str, float]
    wrk_cpu_seconds: float

    @property
    def ok_per_second(self) -> float:
        return max(0, self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok_per_second": round(self.ok_per_second, 1)}


def run_wrk(
    url: str,
    bodies_file: Path,
    *,
    threads: int,
    connections: int,
    seconds: int,
    headers: Mapping[str, str],
    timeout_s: int = 10,
) -> WrkResult:
    """One wrk run POSTing the bodies of `bodies_file` to `url`; bounded by `seconds`."""
    wrk = require_tool("wrk")
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{max(1, seconds)}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(WRK_SCRIPT),
    ]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [url, "--", str(bodies_file)]
    cpu_before = children_cpu_seconds()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    cpu = children_cpu_seconds() - cpu_before
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["status_errors"],
        socket_errors=data["connect_errors"]
        + data["read_errors"]
        + data["write_errors"]
        + data["timeouts"],
        latency_ms={
            "mean": round(data["mean_us"] / 1000, 3),
            "p50": data["p50_us"] / 1000,
            "p90": data["p90_us"] / 1000,
            "p99": data["p99_us"] / 1000,
            "max": data["max_us"] / 1000,
        },
        wrk_cpu_seconds=round(cpu, 3),
    )


def write_lines(path: Path, bodies: Sequence[bytes]) -> Path:
    with path.open("wb") as out:
        for body in bodies:
            if b"\n" in body:
                raise ValueError("bodies must be single-line JSON")
            out.write(body + b"\n")
    return path


# --------------------------------------------------------------------------- profiles


@dataclass
class ProfileSummary:
    process: str
    samples: int
    by_component: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)
    top_project: list[tuple[str, float]] = field(default_factory=list)
    raw_file: str = ""


PROJECT_PACKAGES = ("api", "workers", "db", "load_tests")


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


# --------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        out = []
        for i, cell in enumerate(row):
            numeric = i > 0 and cell.lstrip("-+<>= ")[:1].isdigit()
            out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), rule, *(fmt(r) for r in cells[1:])])


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    if value != value:  # NaN: nothing measured
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            name: _version(name)
            for name in (
                "fastapi",
                "starlette",
                "uvicorn",
                "uvloop",
                "httptools",
                "pydantic",
                "redis",
                "asyncpg",
                "orjson",
            )
        },
    }


def write_results(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "servers": dict(SERVER_INFO),
        **payload,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def busy_warning(cpu: Mapping[str, float]) -> str | None:
    other = cpu.get("other", 0.0)
    if other > 0.25:
        return (
            f"note: other processes used {other:.2f} cores during this measurement; "
            "numbers are lower and noisier than on an idle machine"
        )
    return None


@contextlib.contextmanager
def stage(title: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"... {title}", flush=True)
    yield
    print(f"    done in {time.monotonic() - started:.1f}s", flush=True)
