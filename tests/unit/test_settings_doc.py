"""The README's settings table lists every setting, as `Settings` defines it."""

from __future__ import annotations

from pathlib import Path

from helpstream.settings import Settings
from helpstream.settings_doc import readme_table, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    table = readme_table(README.read_text())
    assert table is not None, "README.md lost its settings-table markers"
    missing = [
        f"HELPSTREAM_{name.upper()}"
        for name in Settings.model_fields
        if f"`HELPSTREAM_{name.upper()}`" not in table
    ]
    assert missing == [], "run: python -m helpstream.settings_doc --write"
    assert table == settings_table(), "run: python -m helpstream.settings_doc --write"


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []
