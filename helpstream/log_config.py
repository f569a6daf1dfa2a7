"""One log format for helpstream and uvicorn, text or JSON, with worker context.

`logging_config(level, fmt)` is a `logging.config.dictConfig` dictionary; the CLI applies
it and hands the same dictionary to uvicorn (`log_config=`), so uvicorn's own records
(`uvicorn.error`, `uvicorn.access`) look like everyone else's and obey
`HELPSTREAM_LOG_LEVEL`. With `HELPSTREAM_LOG_FORMAT=json` each record is one JSON object
per line (for log shippers).

Worker records carry the worker's id and the partition they concern: the worker sets
`worker_id_var` when it starts and each partition task runs in a context with
`partition_var` set (`partition_context`); `ContextFilter` copies both onto every record.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

worker_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "helpstream_worker_id", default=None
)
partition_var: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "helpstream_partition", default=None
)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


def partition_context(partition: int) -> contextvars.Context:
    """A copy of the current context in which log records name ``partition``."""
    context = contextvars.copy_context()
    context.run(partition_var.set, partition)
    return context


class ContextFilter(logging.Filter):
    """Adds `worker_id`, `partition` and a ready-made ` [worker=… partition=…]` suffix."""

    def filter(self, record: logging.LogRecord) -> bool:
        worker_id, partition = worker_id_var.get(), partition_var.get()
        record.worker_id, record.partition = worker_id, partition
        parts = [f"worker={worker_id}"] if worker_id else []
        if partition is not None:
            parts.append(f"partition={partition}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("worker_id", "partition"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry).decode()


def logging_config(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "helpstream",
        "filters": ["context"],
        "stream": "ext://sys.stderr",
    }
    uvicorn = {"handlers": ["default"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"helpstream": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": uvicorn,
            "uvicorn.error": {"level": level},
            "uvicorn.access": dict(uvicorn),
        },
    }


def configure_logging(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """Apply the configuration in this process; returns it (for uvicorn's `log_config`)."""
    config = logging_config(level, fmt)
    logging.config.dictConfig(config)
    return config
