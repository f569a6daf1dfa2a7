"""Every network timeout is explicit and comes from a documented setting."""

from __future__ import annotations

from helpstream.database import connect_options
from helpstream.settings import Settings
from helpstream.streams import connect_redis, redis_options


def test_postgres_connections_have_timeouts_and_keepalives() -> None:
    settings = Settings(db_command_timeout=7, db_connect_timeout=3, db_keepalive_idle=11)
    options = connect_options(settings, "helpstream-worker x")
    assert options["command_timeout"] == 7
    assert options["timeout"] == 3
    server = options["server_settings"]
    assert server["application_name"] == "helpstream-worker x"
    assert server["tcp_keepalives_idle"] == "11"
    assert int(server["tcp_user_timeout"]) == 1000 * (11 + 5 * 3)
    lock = connect_options(settings, "lock", command_timeout=settings.worker_lock_command_timeout)
    assert lock["command_timeout"] == 5.0


def test_redis_client_has_explicit_socket_timeouts() -> None:
    settings = Settings(redis_socket_timeout=4, redis_connect_timeout=2)
    client = connect_redis("redis://127.0.0.1:1/0", False, **redis_options(settings))
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 4
    assert kwargs["socket_connect_timeout"] == 2
    assert kwargs["health_check_interval"] == settings.redis_health_check_interval
    assert kwargs["socket_keepalive"] is True


def test_redis_reply_timeout_must_outlast_the_blocking_read() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="redis_socket_timeout"):
        Settings(redis_socket_timeout=0.1, worker_block_ms=200)
