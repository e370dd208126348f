"""workerlib loaded the way ``make dist`` lets a page load it: ``packages = ["./workerlib.toml"]`` (a PyScript remote
package file naming workerlib's and wrapt's wheels) with ``packages_cache = "passthrough"``, offline, on both Pyodide
releases, in the main thread and a worker."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import REPOSITORY, PageRun, PageSpec, WorkerSpec, url

pytestmark = EVERY_PYODIDE

PACKAGE_FILE = REPOSITORY / "build" / "pyscript-package" / "workerlib.toml"
PACKAGE_FILE_PAGE = PageSpec(
    "package-file", workers=[WorkerSpec("loaded")], shared=["worker.py"], packageFile=PACKAGE_FILE
)


@pytest.fixture(scope="module")
def run(openPage: RunPage) -> PageRun:
    return openPage(PACKAGE_FILE_PAGE)


def wheelsNamed() -> dict[str, str]:
    """The wheels ``workerlib.toml`` lists, by distribution as wheel file names spell it, with their versions."""
    files = tomllib.loads(PACKAGE_FILE.read_text(encoding="utf-8"))["files"]
    assert set(files.values()) == {"./*"}, "every wheel is unpacked into the home directory"
    return dict(name.removeprefix("./").split("-")[:2] for name in files)


@pytest.mark.parametrize("side", ["main", "worker"])
def test_workerlib_and_wrapt_load_from_the_package_file(run: PageRun, side: str) -> None:
    loaded: dict[str, Any] = run.results[side]
    versions = wheelsNamed()
    # The wheel's .dist-info came along, so importlib.metadata (and workerlib.__version__) know the version.
    assert loaded["workerlib"] == loaded["distribution"] == versions["pyscript_workerlib"]
    assert loaded["wrapt"] == versions["wrapt"]
    assert loaded["typed"] is True
    # Unpacked into the interpreter's home directory, not installed into site-packages.
    assert loaded["workerlibFile"] == "/home/pyodide/workerlib/__init__.py"
    assert loaded["wraptFile"] == "/home/pyodide/wrapt/__init__.py"


def test_calls_cross_with_the_packaged_workerlib(run: PageRun) -> None:
    assert run.results["scaled"] == {"a": 4, "b": 10.0}


def test_the_page_fetched_the_package_folder_and_no_other_wheel(run: PageRun) -> None:
    folder = url(PACKAGE_FILE.parent)  # /build/pyscript-package
    paths = {"/" + request.split("://", 1)[1].split("/", 1)[1] for request in run.requests}
    assert f"{folder}/workerlib.toml" in paths
    wheels = sorted(path for path in paths if path.endswith(".whl"))
    assert wheels == sorted(f"{folder}/{name}-{version}-py3-none-any.whl" for name, version in wheelsNamed().items())
    # micropip would come from Pyodide's CDN: passthrough keeps PyScript from loading it at all.
    assert not [request for request in run.requests if "micropip" in request]
