"""The ground floor: workerlib loads from its wheel into a real PyScript page's main thread and worker."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import RunPage
from .harness import WORKERLIB_WHEEL_PREFIX, PageSpec, WorkerSpec, wheelUrls

BOOT = PageSpec("boot", workers=[WorkerSpec("boot")])
BOOT_PLAIN = PageSpec("boot", workers=[WorkerSpec("boot", syncMainOnly=True)])


@pytest.fixture(scope="module")
def isolated(openPage: RunPage) -> dict[str, Any]:
    return openPage(BOOT).results


@pytest.fixture(scope="module")
def plain(openPlainPage: RunPage) -> dict[str, Any]:
    return openPlainPage(BOOT_PLAIN).results


def builtVersion(prefix: str) -> str:
    wheel = next(url for url in wheelUrls() if url.rsplit("/", 1)[1].startswith(prefix))
    return wheel.rsplit("/", 1)[1].split("-")[1]


def test_main_thread_imports_workerlib_from_the_wheel(isolated: dict[str, Any]) -> None:
    assert isolated["main"]["context"] == "main"
    assert isolated["main"]["workerlib"] == builtVersion(WORKERLIB_WHEEL_PREFIX)
    assert isolated["main"]["wrapt"] == builtVersion("wrapt-")
    assert isolated["main"]["python"].startswith("3.14.")  # Pyodide 314.0.2, the pages' default


def test_worker_imports_workerlib_from_the_wheel(isolated: dict[str, Any]) -> None:
    worker = isolated["worker"]
    assert worker["context"] == "worker"
    assert worker["workerlib"] == builtVersion(WORKERLIB_WHEEL_PREFIX)
    assert worker["wrapt"] == builtVersion("wrapt-")
    assert worker["workerlibFile"].endswith("workerlib/__init__.py")


def test_page_without_isolation_headers_still_boots(plain: dict[str, Any]) -> None:
    assert plain["main"]["context"] == "main"
    assert plain["worker"]["context"] == "worker"
