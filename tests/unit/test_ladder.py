"""The import ladder (docs/transport.rst, "The import ladder"): each module of workerlib imports only modules on lower
rungs, so there are no import circles and no upward imports; tools/ never imports tests/."""

from __future__ import annotations

import ast
from pathlib import Path

import workerlib

PACKAGE = Path(workerlib.__file__).parent
REPOSITORY = PACKAGE.parent

LADDER: list[set[str]] = [
    {"errors", "_runtime", "_version", "calls", "decorators", "methods"},
    {"kinds"},
    {"nesting", "adapters"},
    {"screening", "rebuild"},
    {"codec"},
    {"protocol"},
    {"channel"},
    {"ports", "endpoint"},
    {"workers", "client", "server"},
    {"pool"},
    {"service"},
    {"diagnosis", "testing", "mypyplugin"},
    {"__init__"},
]
"""The rungs, from the bottom: a module may import only modules of the rungs below its own."""

RUNG = {module: rung for rung, modules in enumerate(LADDER) for module in modules}


def importsOf(path: Path) -> set[str]:
    """The workerlib modules ``path`` imports, at any level of the file (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("workerlib"):
            parts = (node.module or "").split(".")
            found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "workerlib":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def test_every_module_is_on_the_ladder() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == set(RUNG), f"not on the ladder: {modules - set(RUNG)}; gone: {set(RUNG) - modules}"


def test_every_import_goes_down_the_ladder() -> None:
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        for imported in importsOf(path):
            if imported in RUNG and RUNG[imported] >= RUNG[path.stem]:
                wrong.append(f"{path.stem} (rung {RUNG[path.stem]}) imports {imported} (rung {RUNG[imported]})")
    assert not wrong, "imports against the ladder:\n" + "\n".join(wrong)


def test_the_ladder_test_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "kinds.py"
    module.write_text("from . import codec\n\ndef f():\n    from .protocol import Frame\n")
    assert importsOf(module) == {"codec", "protocol"}


def test_tools_never_import_tests() -> None:
    wrong = []
    for path in sorted((REPOSITORY / "tools").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            wrong += [
                f"{path.relative_to(REPOSITORY)} imports {name}" for name in names if name.split(".")[0] == "tests"
            ]
    assert not wrong, "\n".join(wrong)
