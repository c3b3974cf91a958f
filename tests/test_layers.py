"""Floors with no arrow running up: the foundation (``sluice/`` outside ``sluice/app``) imports
no process and not the application; the processes (``workflows/``, ``activities/``) do not
import the application. Every import counts, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "sluice" / "app"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute names only (the project uses no relative ones)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def upward(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


# ``python -m sluice`` (sluice/__main__.py) is an entry point, like worker.py and starter.py:
# the application's door, not a floor below it.
ENTRY_POINTS = {ROOT / "sluice" / "__main__.py"}
FOUNDATION = sorted(
    p for p in (ROOT / "sluice").rglob("*.py") if APP not in p.parents and p not in ENTRY_POINTS
)
PROCESSES = sorted([*(ROOT / "workflows").rglob("*.py"), *(ROOT / "activities").rglob("*.py")])


@pytest.mark.parametrize("path", FOUNDATION, ids=lambda p: str(p.relative_to(ROOT)))
def test_foundation_imports_no_process_and_not_the_application(path: Path) -> None:
    assert upward(imported_modules(path), ("workflows", "activities", "sluice.app")) == []


@pytest.mark.parametrize("path", PROCESSES, ids=lambda p: str(p.relative_to(ROOT)))
def test_processes_do_not_import_the_application(path: Path) -> None:
    assert upward(imported_modules(path), ("sluice.app",)) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "leak.py"
    module.write_text("def f():\n    from workflows.cargo_release import PROCESS\n")
    assert upward(imported_modules(module), ("workflows",)) == [
        "workflows.cargo_release",
        "workflows.cargo_release.PROCESS",
    ]
