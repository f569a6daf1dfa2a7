"""What the demo sends: the events and the figures the help desk should report back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]

START = int(datetime(2023, 1, 2, tzinfo=UTC).timestamp())
END = int(datetime(2024, 3, 29, tzinfo=UTC).timestamp())
HOUR = 3600
DAY = 24 * HOUR


@dataclass(slots=True)
class DemoData:
    """Everything `helpstream demo` sends, plus the figures it expects back."""

    support_events: list[Event] = field(default_factory=list)
    clicks: list[Event] = field(default_factory=list)
    pages: list[Event] = field(default_factory=list)  # {"page_id", "name", "url", "group"}
    resolved_tickets: int = 0
    reopened_tickets: int = 0
    rerated_tickets: int = 0

    def count(self, event_type: str) -> int:
        return sum(1 for e in self.support_events if e["type"] == event_type)
