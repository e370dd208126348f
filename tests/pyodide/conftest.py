"""The Pyodide layer: tests that run inside Pyodide on Node through pytest-pyodide's ``run_in_pyodide``.

They need the folder ``make dist`` builds (Pyodide with pytest, tblib, workerlib and wrapt in its lock) and run through
``make test-pyodide``, which passes ``--runtime=node --dist-dir=build/pyodide-dist``. Without such a folder each test
here is skipped with the reason, before pytest-pyodide starts Node. Everything in this file applies to this directory
only: the hook is reached through ``item.ihook``, which pytest limits to the conftest files above the item.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest


def distProblem(config: pytest.Config) -> str | None:
    """Why the ``--dist-dir`` folder cannot run these tests, or ``None`` when it can."""
    distDir = getattr(config.option, "dist_dir", None)
    if distDir is None:
        return "the pytest-pyodide plugin is not active"
    lockPath = Path(distDir) / "pyodide-lock.json"
    try:
        packages = json.loads(lockPath.read_text(encoding="utf-8"))["packages"]
    except (OSError, ValueError, KeyError):
        return f"no Pyodide lock at {lockPath}"
    if "workerlib" not in packages:
        return f"{lockPath} has no workerlib entry"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if problem := distProblem(item.config):
        pytest.skip(f"needs --dist-dir=<a folder built by make dist> ({problem}); run make test-pyodide")


@pytest.fixture(scope="session")
def hostVersions() -> dict[str, str]:
    """The versions of workerlib and wrapt installed on the host, which the wheels in the folder must match."""
    return {name: importlib.metadata.version(name) for name in ("workerlib", "wrapt")}
