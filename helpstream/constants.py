"""Constants of the domain that the API, the workers and the dashboard must agree on."""

from __future__ import annotations

from typing import Literal, get_args

Category = Literal[
    "Account access",
    "Bug report",
    "Order cancellation",
    "Overcharged transaction",
    "Undelivered goods",
    "Wrong order",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
"""Ticket categories (contract §4), in the order the reports list them."""

VARIANT_PATTERN = r"[A-Za-z0-9_.\-]{1,64}"
"""A variant name (contract §3). Unanchored, so an HTML `pattern` attribute can use it too."""
VARIANT_REGEX = f"^{VARIANT_PATTERN}$"
DEFAULT_VARIANT = "default"

BUCKET_SECONDS = 60
"""Width of a rollup bucket: metric windows are exact, whole buckets come from rollups."""

DEFAULT_MAX_FUTURE_SKEW = 300
"""Seconds a timestamp may be ahead of the server's clock (contract §3, `max_future_skew`)."""
