"""The demo generator: seed-sized, deterministic, valid API payloads, realistic features."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from helpstream.api.models import ClickIn
from helpstream.api.models_support import SupportEventIn
from helpstream.constants import CATEGORIES
from helpstream.demo import DemoData, Progress, generate
from tests.reference_reports import reports


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate()


def test_the_help_desk_has_the_seed_sizes(demo: DemoData) -> None:
    counts = Counter(e["type"] for e in demo.support_events)
    assert counts["agent.upserted"] == 34
    assert counts["customer.upserted"] == 123
    assert counts["ticket.opened"] == 377
    assert counts["message.sent"] == 6341
    assert len({e["message_id"] for e in demo.support_events if "message_id" in e}) == 6341


def test_it_is_deterministic() -> None:
    assert generate(5) == generate(5)
    assert generate(5).support_events != generate(6).support_events


def test_every_event_is_a_valid_api_payload(demo: DemoData) -> None:
    for event in demo.support_events:
        SupportEventIn.model_validate(event)
    for click in demo.clicks:
        ClickIn.model_validate(click)


def test_it_covers_what_the_reports_are_about(demo: DemoData) -> None:
    events = demo.support_events
    opened = [e for e in events if e["type"] == "ticket.opened"]
    assert {e["category"] for e in opened} == set(CATEGORIES)
    times = [e["timestamp"] for e in events if "timestamp" in e]
    assert max(times) - min(times) > 400 * 86400  # more than a year
    assert demo.reopened_tickets >= 5
    assert demo.rerated_tickets >= 5
    assert 300 < demo.resolved_tickets < 377  # some still open

    expected = reports(events)
    per_agent = {a["agent_id"]: a["number_of_tickets"] for a in expected["tickets-per-agent"]}
    assert len(per_agent) == 34
    assert per_agent[34] == 0  # the new hire
    buckets = {b["number_of_agents"] for b in expected["agents-per-ticket"]}
    assert {0, 1, 2, 3} <= buckets
    months = [m["month"] for m in expected["resolution-time-by-month"]]
    assert "2023-01" in months and "2024-01" in months
    assert expected["resolution-time"]["min_hours"] == 0.0  # one-message tickets
    assert 0.3 < expected["csat"]["csat"] < 0.9


def test_the_clickstream_has_variants_and_confusing_pages(demo: DemoData) -> None:
    clicks = demo.clicks
    assert 2000 <= len(clicks) <= 6000
    assert {c["variant"] for c in clicks} == {"A", "B"}
    assert any(c["is_resolved"] for c in clicks)
    assert [c["timestamp"] for c in clicks] == sorted(c["timestamp"] for c in clicks)
    # The back button: a click whose source is not where the previous click led.
    last: dict[int, int] = {}
    back = 0
    for c in clicks:
        if last.get(c["customer_id"], c["source_page_id"]) != c["source_page_id"]:
            back += 1
        last[c["customer_id"]] = c["target_page_id"]
    assert back > 50
    billing = Counter(c["variant"] for c in clicks if c["target_page_id"] == 20)
    assert billing["A"] > 50 and billing["B"] == 0


def test_progress_bar_on_a_terminal_shows_a_rate_and_ends_with_a_newline() -> None:
    out = io.StringIO()
    bar = Progress(10, out, width=10, live=True)
    bar.advance(4, "help desk")
    bar.advance(6, "clickstream")
    text = out.getvalue()
    assert "[####......]      4/10 events" in text
    assert "[##########]     10/10 events" in text
    assert "/s  clickstream" in text
    assert text.endswith("\n")
    bar.waiting(3, 7, 1.0)
    bar.waited(True, 2.0)
    assert "waiting for the workers: 3/7 resolved tickets applied" in out.getvalue()


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_progress_off_a_terminal_is_one_plain_line_per_phase() -> None:
    out = _Log()
    bar = Progress(1000, out)
    for _ in range(10):
        bar.advance(50, "help desk")
    for _ in range(10):
        bar.advance(50, "clickstream")
    bar.finish_sending()
    bar.waiting(1, 2, 0.5)
    bar.waited(False, 120.0)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "#" not in out.getvalue()
    assert lines[0].startswith("help desk: 500 events in ") and "/s); 500/1000 sent" in lines[0]
    assert lines[1].startswith("clickstream: 500 events in ") and "1000/1000 sent" in lines[1]
    assert lines[2] == "waiting for the workers: still applying (not waiting longer) after 120.0 s"
    assert len(lines) == 3


def test_every_page_the_demo_visitors_click_has_a_name(demo: DemoData) -> None:
    named = {p["page_id"]: p for p in demo.pages}
    clicked = {c[k] for c in demo.clicks for k in ("source_page_id", "target_page_id")}
    assert clicked <= set(named)
    assert named[20]["name"] == "Billing & payments" and named[20]["group"] == "hubs"
    assert {p["group"] for p in demo.pages} == {"home", "search", "contact", "hubs", "articles"}
    assert all(1 <= len(p["name"]) <= 200 for p in demo.pages)
