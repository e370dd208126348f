"""The Pyodide layer: tests that run inside Pyodide on Node through pytest-pyodide's ``run_in_pyodide``.

They need the folder ``make pyodide-dist`` builds (Pyodide with pytest, tblib, workerlib and wrapt in its lock) and run
through ``make test-pyodide``, which passes ``--runtime=node --dist-dir=build/pyodide-dist``. Without such a folder
each test here is skipped with the reason, before pytest-pyodide starts Node. The hook applies to this directory only:
it is reached through ``item.ihook``, which pytest limits to the conftest files above the item.

Also here: how Pyodide is loaded on Node (one JavaScript realm, see below), and the ``kit`` fixture, which carries
``seamkit.py`` (a main end and a worker end of workerlib's channel in one Pyodide) into the tests that need it.
"""

from __future__ import annotations

import importlib.metadata
import json
import tomllib
from pathlib import Path

import pytest
from pytest_pyodide import get_global_config

from workerlib._version import DISTRIBUTION

REPOSITORY = Path(__file__).resolve().parents[2]

# On Node, pytest-pyodide runs its driver code in a ``vm`` context and hands that context's global object to Pyodide as
# its ``js`` module, while Pyodide's own JavaScript (what ``to_js`` makes, the messages a port delivers) lives in Node's
# main realm. That ``js`` lacks ``MessageChannel`` and ``Blob``, and values of the two realms mix badly (an ArrayBuffer
# of one is no ``instanceof ArrayBuffer`` in the other). Without ``jsglobals`` Pyodide's ``js`` is the main realm's
# global: one realm, as in a browser's worker.
get_global_config().set_load_pyodide_script("node", "let pyodide = await loadPyodide({ fullStdLib: false });\n")


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
    if DISTRIBUTION not in packages:
        return f"{lockPath} has no {DISTRIBUTION} entry (workerlib's distribution)"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if problem := distProblem(item.config):
        pytest.skip(f"needs --dist-dir=<a folder built by make pyodide-dist> ({problem}); run make test-pyodide")


KIT = Path(__file__).with_name("seamkit.py")
KIT_LOADER = """
import sys, types
if "tests.pyodide.seamkit" not in sys.modules:
    for package in ("tests", "tests.pyodide"):
        sys.modules.setdefault(package, types.ModuleType(package))
    module = types.ModuleType("tests.pyodide.seamkit")
    module.__file__ = "seamkit.py"
    sys.modules[module.__name__] = module
    exec(compile(%r, "seamkit.py", "exec"), module.__dict__)
"""


@pytest.fixture(scope="session")
def kit() -> str:
    """Code that installs ``seamkit.py`` in Pyodide as ``tests.pyodide.seamkit``: a test body starts with ``exec(kit)``.

    pytest-pyodide sends only a test function's own source to Pyodide, so shared code travels as this string.
    """
    return KIT_LOADER % KIT.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def hostVersions() -> dict[str, str]:
    """The versions of workerlib (pyproject.toml's, the version its wheel was built with) and of wrapt installed on the
    host, which the wheels in the folder must match, by distribution name.

    workerlib's comes from the source tree rather than the host's metadata: a venv installed before the distribution was
    renamed knows it only as ``workerlib``.
    """
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {project["name"]: project["version"], "wrapt": importlib.metadata.version("wrapt")}
