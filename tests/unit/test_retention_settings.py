"""Retention settings that would make metric windows wrong are refused at startup."""

from __future__ import annotations

import pytest

from helpstream.settings import Settings


def test_paths_must_be_kept_as_long_as_minute_rollups() -> None:
    with pytest.raises(ValueError, match="RETAIN_PATHS_DAYS"):
        Settings(retain_paths_days=3, retain_minute_rollups_days=7)
    assert Settings(retain_paths_days=0, retain_minute_rollups_days=7).retain_paths_days == 0
