"""The layout the project keeps (issue 13): the API and the workers share only the core.

* `helpstream.api` never imports `helpstream.workers`, and `helpstream.workers` never imports
  `helpstream.api`; `helpstream.db` imports neither.
* The core (`helpstream/*.py`, `helpstream/demo/`) imports neither, except the command line
  (`helpstream/cli/`), which is where the processes are started.
* Nothing imports the repository folders by their bare names (`api`, `workers`, `db`): in an
  installed wheel only `helpstream` exists.
* No product module grows past 450 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "helpstream"
FOLDERS = {"api": ROOT / "api", "workers": ROOT / "workers", "db": ROOT / "db"}
MAX_LINES = 450


def _imports(path: Path) -> list[str]:
    """Every module name `path` imports (absolute imports; the project uses no relative ones)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _core_modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if p.relative_to(CORE).parts[0] not in FOLDERS)


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _touches(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


FORBIDDEN = {
    "api": ("helpstream.workers",),
    "workers": ("helpstream.api",),
    "db": ("helpstream.api", "helpstream.workers"),
}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_api_and_workers_never_import_each_other(folder: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(FOLDERS[folder])
        for name in _imports(path)
        if any(_touches(name, banned) for banned in FORBIDDEN[folder])
    ]
    assert crossings == []


def test_the_core_imports_neither_side_except_the_command_line() -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _core_modules()
        if path.relative_to(CORE).parts[0] != "cli"
        for name in _imports(path)
        if _touches(name, "helpstream.api") or _touches(name, "helpstream.workers")
    ]
    assert crossings == []


def test_nothing_imports_the_bare_folder_names() -> None:
    sources = [*_core_modules(), *(p for f in FOLDERS.values() for p in _modules(f))]
    sources += sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "load_tests").rglob("*.py"))
    bare = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources
        for name in _imports(path)
        if name.split(".")[0] in FOLDERS
    ]
    assert bare == []


def test_the_core_links_the_folders_into_one_package() -> None:
    for name, folder in FOLDERS.items():
        link = CORE / name
        assert link.is_symlink() and link.resolve() == folder.resolve(), link


def test_no_product_module_over_450_lines() -> None:
    sources = [*_core_modules(), *(p for f in FOLDERS.values() for p in _modules(f))]
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in sources
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
