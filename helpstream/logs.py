"""Keep secrets and personal data out of logs: API keys, Authorization values, emails, phones.

`install_log_redaction()` redacts every log record as it is created (a record factory),
so it also covers handlers that are added later, e.g. by uvicorn's logging setup, and
exceptions' tracebacks (whose messages may quote input).

Phone numbers are recognised by their shape (a leading `+`, or digit groups separated by
spaces, dots, dashes or parentheses, 7–15 digits in all). A bare run of digits is left
alone: it is far more often an ID or a unix timestamp in these logs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"(?i)\b(authorization[\"']?\s*[:=,]\s*[\"']?)(bearer\s+|basic\s+)?[^\s\"',;}]+"
        ),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [REDACTED]"),
    (re.compile(r"\bhs_([0-9a-f]{12})_[A-Za-z0-9_-]+"), r"hs_\1_[REDACTED]"),
    (re.compile(r"\bhs_[A-Za-z0-9_-]{8,}"), "hs_[REDACTED]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
]
# Optional +country code, optional (area code), then digit groups joined by one separator;
# or + and 7..15 bare digits. Candidates are then checked by `_phone`.
_PHONE = re.compile(
    r"(?<![\w+.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,4}){1,4}(?![\w:-]|\.\d)"
    r"|(?<![\w+])\+\d{7,15}(?!\w)"
)
_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T].*)?|\d{1,3}(?:\.\d{1,3}){3}")  # dates, IPv4


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if not 7 <= digits <= 15 or _NOT_PHONE.fullmatch(text):
        return text
    return "[phone]"


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(_phone, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) with secrets and PII removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the record as logging would
            return True
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # Its formatter unpacks the args (client, method, path, version, status).
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        else:
            redacted = redact(message)
            if redacted != message or record.args:
                record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_filter = RedactingFilter()
_installed = False


def install_log_redaction() -> None:
    """Redact every log record from now on, in this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _filter.filter(record)
        return record

    logging.setLogRecordFactory(factory)
