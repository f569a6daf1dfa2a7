"""Help text for CLI options: each one says its default and its environment variable."""

from __future__ import annotations

from helpstream.settings import Settings

NO_ENV = "no environment variable"


def setting_help(name: str, text: str | None = None) -> str:
    """Help for an option that overrides the setting ``name``, from its Settings field."""
    field = Settings.model_fields[name]
    description = text or (field.description or name).rstrip(".")
    return f"{description} (default: {field.default}; env: HELPSTREAM_{name.upper()})"


def plain_help(text: str, default: object) -> str:
    """Help for an option that is not a setting."""
    return f"{text} (default: {default}; {NO_ENV})"
