"""The README's settings table, generated from `Settings` (names, defaults, descriptions).

`python -m helpstream.settings_doc` prints it; `--write` replaces the table in README.md
between its markers. `tests/unit/test_settings_doc.py` fails when the README's table is
not the generated one, e.g. after a setting was added.
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpstream.settings import Settings

START = "<!-- settings-table:start (generated: python -m helpstream.settings_doc --write) -->"
END = "<!-- settings-table:end -->"


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return "empty"
    return f"`{value}`"


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `HELPSTREAM_{name.upper()}` | {_default(field.default)} | {description} |")
    return "\n".join(rows)


def replace_table(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{settings_table()}\n{END}{tail}"


def readme_table(readme: str) -> str | None:
    if START not in readme or END not in readme:
        return None
    return readme.split(START, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"]:
        path = Path(argv[1]) if len(argv) > 1 else Path("README.md")
        path.write_text(replace_table(path.read_text()))
    else:
        print(settings_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
