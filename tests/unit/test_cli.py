"""The CLI as a user meets it: one-line errors, --version, help that names defaults and
environment variables. Commands run as real subprocesses (nothing listens on port 1)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

import pytest

from helpstream import __version__
from helpstream.cli import build_parser
from helpstream.cli.errors import safe_url
from helpstream.cli.help import NO_ENV


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPSTREAM_")}
    return subprocess.run(
        [sys.executable, "-m", "helpstream.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["keys", "list"], ["migrate"], ["api"], ["worker"]])
def test_an_unreachable_database_is_one_line_and_exit_1(command: list[str]) -> None:
    line = one_line_error(
        run_cli(
            *command,
            HELPSTREAM_DATABASE_URL="postgresql://nobody:hunter2@127.0.0.1:1/x",
            HELPSTREAM_REDIS_URL="redis://127.0.0.1:1/0",
        )
    )
    assert line == (
        "helpstream: cannot connect to PostgreSQL at postgresql://nobody:***@127.0.0.1:1/x: "
        "connection refused (is it running? check HELPSTREAM_DATABASE_URL)"
    )


def test_api_and_worker_without_urls_say_what_to_set() -> None:
    result = run_cli("worker", HELPSTREAM_DATABASE_URL="postgresql://u@127.0.0.1:1/x")
    assert one_line_error(result).startswith("helpstream: HELPSTREAM_DATABASE_URL and")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HELPSTREAM_PORT", "eighty"), ("HELPSTREAM_PARTITIONS", "0"), ("HELPSTREAM_LOG_LEVEL", "x")],
)
def test_an_invalid_setting_is_one_line_naming_the_variable(variable: str, value: str) -> None:
    line = one_line_error(run_cli("keys", "list", **{variable: value}))
    assert line.startswith(f"helpstream: invalid setting {variable}=")


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"helpstream {__version__}"


def _options(parser: argparse.ArgumentParser, path: str = "helpstream") -> list[tuple[str, Any]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _options(child, f"{path} {name}")
        elif action.option_strings and not isinstance(
            action, argparse._HelpAction | argparse._VersionAction
        ):
            found.append((f"{path} {action.option_strings[0]}", action))
    return found


def test_every_option_says_its_default_and_environment_variable() -> None:
    options = _options(build_parser())
    assert len(options) > 10
    for where, action in options:
        text = action.help or ""
        assert "default" in text, where
        assert "HELPSTREAM_" in text or NO_ENV in text, where


def test_passwords_never_reach_the_terminal() -> None:
    assert safe_url("postgresql://u:p%40ss@h:5/db") == "postgresql://u:***@h:5/db"
    assert safe_url("redis://:secret@h:6379/0") == "redis://:***@h:6379/0"
    assert safe_url("redis://h:6379/0") == "redis://h:6379/0"
