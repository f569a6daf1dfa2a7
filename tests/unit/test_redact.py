"""Logs never contain API keys, Authorization values, emails or phone numbers."""

from __future__ import annotations

import logging

import pytest

from helpstream.keys import generate_key
from helpstream.logs import install_log_redaction, redact

KEY = generate_key()[1]


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {KEY}",
        f"headers={{'authorization': 'Bearer {KEY}'}}",
        f"[(b'authorization', b'Bearer {KEY}')]",
        f"key {KEY} rejected",
        "mail jane.doe+support@example.co.uk about it",
        "call +1 (555) 123-4567",
        "call 555-123-4567 or 555.123.4567",
        "phone '+44 20 7946 0958'",
        "phone +15551234567",
        "call 555-123-4567.",
        "phones: 555 123 4567, (555) 123-4567; done",
    ],
)
def test_secrets_and_personal_data_are_redacted(text: str) -> None:
    redacted = redact(text)
    assert KEY not in redacted and KEY[16:] not in redacted
    for secret in ("jane.doe", "555", "7946", "Bearer hs_"):
        assert secret not in redacted, redacted


@pytest.mark.parametrize(
    "text",
    [
        "applied 200 entries on partition 3",
        "event time 1515764691, customer 12",
        "stream entry 1515764691000-0",
        "window 2024-01-15 to 2024-01-16",
        "start_time=2026-11-26 07:05:20, pid=26720",
        "at 2026-11-26 07:05:20.123 UTC",
        "redis at 10.0.100.200:6379",
        "event 6f1d3c52-5b7e-4b8e-9d0a-3c2f1e0a9b71",
        "hs:{p3}:clicks",
    ],
)
def test_ordinary_log_lines_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_every_log_record_is_redacted_including_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("helpstream.test")
    with caplog.at_level(logging.INFO):
        log.info("request with %s from %s", f"Bearer {KEY}", "jane@example.com")
        try:
            raise ValueError(f"bad row for jane@example.com, phone +1 555 123 4567, key {KEY}")
        except ValueError:
            log.exception("failed")
    text = caplog.text
    assert "failed" in text and "ValueError" in text
    for secret in (KEY, "jane@example.com", "555 123 4567"):
        assert secret not in text
    assert "[email]" in text and "[phone]" in text
