"""A pydantic model a workflow uses is built once per worker, never once per run.

The sandbox imports a workflow module again for every run, with every project module it
imports that is not passed through (``PASSED_THROUGH``, or an import inside
``workflow.unsafe.imports_passed_through()``). A model class defined in one of those is
built again, validators and all, for every run, and each cached run holds its own copy (what
the benchmarks measured before the models moved to ``activities/<process>/models.py``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sluice.app.catalog import PROCESSES
from sluice.app.plugin import PASSED_THROUGH
from sluice.framework import Process

PROJECT_PACKAGES = ("workflows", "activities", "sluice")


def _is_pass_through_block(node: ast.With) -> bool:
    return any(
        isinstance(item.context_expr, ast.Call)
        and isinstance(item.context_expr.func, ast.Attribute)
        and item.context_expr.func.attr == "imports_passed_through"
        for item in node.items
    )


def _imports_outside_pass_through(node: ast.AST) -> set[str]:
    """The modules ``node`` imports, leaving out what it imports in a pass-through block."""
    if isinstance(node, ast.With) and _is_pass_through_block(node):
        return set()
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        found |= _imports_outside_pass_through(child)
    return found


def _project_module(name: str, roots: set[str]) -> bool:
    """``name`` is a module of the project (not a class or function imported from one)."""
    if name.split(".")[0] not in roots:
        return False
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def imported_per_run(module: str, passed_through: tuple[str, ...]) -> list[str]:
    """``module`` and every project module the sandbox imports again with it for each run."""
    roots = {module.split(".")[0], *PROJECT_PACKAGES}
    seen: list[str] = []
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or any(name == p or name.startswith(p + ".") for p in passed_through):
            continue
        seen.append(name)
        source = importlib.import_module(name).__file__
        assert source is not None
        tree = ast.parse(Path(source).read_text("utf-8"), filename=source)
        todo += sorted(n for n in _imports_outside_pass_through(tree) if _project_module(n, roots))
    return seen


def models_defined_in(module: str) -> list[str]:
    loaded = importlib.import_module(module)
    return sorted(
        f"{module}.{name}"
        for name, value in vars(loaded).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == loaded.__name__
    )


def models_built_per_run(module: str, passed_through: tuple[str, ...]) -> list[str]:
    return [
        model
        for imported in imported_per_run(module, passed_through)
        for model in models_defined_in(imported)
    ]


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.command)
def test_no_model_is_built_again_for_each_run(process: Process[Any]) -> None:
    assert models_built_per_run(process.workflow.__module__, PASSED_THROUGH) == []


def test_the_check_sees_a_model_in_a_workflow_module_or_one_it_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "made_up_flows"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "shapes.py").write_text(
        "from pydantic import BaseModel\n\nclass Shape(BaseModel):\n    sides: int\n"
    )
    (package / "kept.py").write_text(
        "from pydantic import BaseModel\n\nclass Kept(BaseModel):\n    n: int\n"
    )
    (package / "flow.py").write_text(
        "from pydantic import BaseModel\n"
        "from temporalio import workflow\n"
        "from made_up_flows import shapes\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from made_up_flows.kept import Kept\n\n"
        "class Order(BaseModel):\n    id: str\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    built = models_built_per_run("made_up_flows.flow", PASSED_THROUGH)

    assert built == ["made_up_flows.flow.Order", "made_up_flows.shapes.Shape"]
