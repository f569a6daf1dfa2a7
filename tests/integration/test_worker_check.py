"""`helpstream worker --check`, the worker container's health check."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from helpstream.cli import main
from helpstream.settings import Settings
from helpstream.workers.health import check_worker
from tests.conftest import WorkerHandle

pytestmark = pytest.mark.integration


async def test_check_fails_without_a_live_worker_on_this_host(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    healthy, why = await check_worker(settings)
    assert not healthy and "no worker" in why
    await pool.execute(
        "INSERT INTO workers (worker_id, heartbeat_at) VALUES ($1, now() - interval '1 hour')",
        f"{__import__('socket').gethostname()}:1:stale",
    )
    healthy, why = await check_worker(settings)
    assert not healthy and "last heartbeated" in why


async def test_check_passes_while_a_worker_heartbeats(
    settings: Settings, worker: WorkerHandle
) -> None:
    for _ in range(100):  # the first heartbeat is written as the worker starts
        healthy, why = await check_worker(settings)
        if healthy:
            break
        await asyncio.sleep(0.05)
    assert healthy, why


async def test_check_fails_when_postgres_is_unreachable(settings: Settings) -> None:
    broken = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/x"})
    healthy, why = await check_worker(broken)
    assert not healthy and "PostgreSQL unreachable" in why


def test_cli_check_exit_code(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HELPSTREAM_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/x")
    monkeypatch.setenv("HELPSTREAM_REDIS_URL", settings.redis_url or "")
    assert main(["worker", "--check"]) == 1
    assert "PostgreSQL unreachable" in capsys.readouterr().err
