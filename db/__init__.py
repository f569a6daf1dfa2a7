"""SQL lives here as plain files: numbered migrations and named queries."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def query(name: str) -> str:
    """The text of `db/queries/<name>.sql`."""
    return resources.files("helpstream.db").joinpath("queries", f"{name}.sql").read_text()
