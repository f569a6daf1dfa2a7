"""What the CLI says when it cannot start: one line, no traceback, a non-zero exit.

Configuration errors name the environment variable; connection errors name the server
and its URL (password removed) and say what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Iterator
from typing import NoReturn

import asyncpg
from pydantic import ValidationError
from redis.exceptions import RedisError

ENV_PREFIX = "HELPSTREAM_"


class CliError(Exception):
    """A problem the user can fix; its message is the whole story (one line)."""


def settings_error(exc: ValidationError) -> CliError:
    """`HELPSTREAM_PORT=abc` → "invalid setting HELPSTREAM_PORT='abc': Input should be …"."""
    problems = []
    for error in exc.errors(include_url=False):
        name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
    return CliError("invalid setting " + "; ".join(problems))


def safe_url(url: str) -> str:
    """The URL without its password (`postgresql://user:***@host/db`)."""
    return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", url)


# Errors that mean "could not reach or log in to the server", not "the server said no".
CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, unknown host (socket.gaierror)
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.InvalidAuthorizationSpecificationError,  # unknown role, bad password
    asyncpg.InvalidCatalogNameError,  # no such database
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    RedisError,
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def cannot_connect(what: str, url: str, variable: str, exc: BaseException) -> NoReturn:
    raise CliError(
        f"cannot connect to {what} at {safe_url(url)}: {_reason(exc)} "
        f"(is it running? check {variable})"
    ) from exc


@contextlib.contextmanager
def connecting(what: str, url: str, variable: str) -> Iterator[None]:
    """Turn a failure to reach ``what`` inside the block into a one-line CliError."""
    try:
        yield
    except CONNECT_ERRORS as exc:
        cannot_connect(what, url, variable, exc)
