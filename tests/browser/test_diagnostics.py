"""Diagnostics on a real page: versions and report from main and from workers, the logging switch, and
``typechecked=True`` services whose violations reach the main thread."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import RunPage
from .harness import PageRun, PageSpec, WorkerSpec

DIAGNOSTICS = PageSpec("diagnostics", workers=[WorkerSpec("diag")], shared=["worker.py"])
# Served without COOP/COEP (GitHub Pages): the worker has no SharedArrayBuffer, so no proxy of the main window either.
NOT_ISOLATED = PageSpec(
    "diagnostics", main="main_plain.py", workers=[WorkerSpec("diag", syncMainOnly=True)], shared=["worker.py"]
)
# The default stack the pages run on (harness.PYODIDE_DEFAULT): PyScript 0.7.31 with its own Pyodide, 314.0.2.
PINNED = {"PyScript": "0.7.31", "Pyodide": "314.0.2", "Python": "3.14.2", "Emscripten": "5.0.3"}
LOG_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3} workerlib(\.\w+)* [A-Z]+ \[(main|worker[^\]]*)\] ")


@pytest.fixture(scope="module")
def run(openPage: RunPage) -> PageRun:
    return openPage(DIAGNOSTICS)


@pytest.fixture(scope="module")
def page(run: PageRun) -> dict[str, Any]:
    return run.results


def error(outcome: dict[str, Any]) -> dict[str, Any]:
    assert "error" in outcome, f"expected an error, got {outcome}"
    found: dict[str, Any] = outcome["error"]
    return found


@pytest.fixture(scope="module")
def plainPage(openPlainPage: RunPage) -> dict[str, Any]:
    return openPlainPage(NOT_ISOLATED).results


@pytest.mark.parametrize("side", ["main", "worker"])
def test_versions_are_detected_on_the_pinned_stack(page: dict[str, Any], side: str) -> None:
    assert page[side]["versions"] == PINNED


@pytest.mark.parametrize(("side", "where"), [("main", "PyScript main thread"), ("worker", "PyScript worker 'diag'")])
def test_report_lines(page: dict[str, Any], side: str, where: str) -> None:
    lines = page[side]["lines"]
    assert re.fullmatch(rf"workerlib: \S+ in {re.escape(where)}", lines[0])
    assert lines[1:5] == [f"{part}: {version}" for part, version in PINNED.items()]
    assert re.fullmatch(r"CPU count: [1-9]\d*", lines[5])
    assert lines[6:] == [
        "pthreads: no",
        "SharedArrayBuffer: available",
        "crossOriginIsolated: yes",
        "sync cancellation: interrupts a running sync method (KeyboardInterrupt in the worker)",
        "dev mode: off",
        "assertions: enabled",
        "beartype: 0.23.1 (typechecked checks calls)",
    ]


@pytest.mark.parametrize(("side", "where"), [("main", "PyScript main thread"), ("worker", "PyScript worker")])
def test_without_isolation_versions_are_still_detected(plainPage: dict[str, Any], side: str, where: str) -> None:
    assert plainPage[side]["versions"] == PINNED
    lines = plainPage[side]["lines"]
    # The worker's own name is on the main thread, out of its reach without PyScript's window proxy.
    assert lines[0].endswith(f" in {where}")
    assert lines[6:10] == [
        "pthreads: no",
        "SharedArrayBuffer: unavailable",
        "crossOriginIsolated: no",
        "sync cancellation: a running sync method runs to its end, its answer dropped (the page is not cross-origin "
        "isolated)",
    ]


def test_nothing_is_logged_before_logging_is_enabled(run: PageRun) -> None:
    assert not [line for line in run.console if "diagnostics-marker" in line and "before" in line]
    logged = [index for index, line in enumerate(run.console) if LOG_LINE.search(line)]
    assert logged, "\n".join(run.console)
    # The first workerlib line of the whole page is the first record main logged after switching on.
    assert "diagnostics-marker: main after" in run.console[logged[0]]


def test_enabled_logging_prints_in_main_and_in_the_worker(run: PageRun, page: dict[str, Any]) -> None:
    assert page["mainHandlers"] == 2  # the library's NullHandler and one of enableLogging's, however often called
    assert page["workerHandlers"] == 2
    # One console line a record, through the console method of its level, in LOG_FORMAT with the place it ran in.
    main = [line for line in run.console if "diagnostics-marker: main" in line]
    assert len(main) == 1
    assert re.fullmatch(
        r"\[debug\] \d\d:\d\d:\d\d\.\d{3} workerlib\.page DEBUG \[main\] diagnostics-marker: main after", main[0]
    )
    # Playwright may hand a worker's console line over twice (from the page and from the worker).
    worker = sorted({line for line in run.console if "diagnostics-marker: worker" in line})
    assert [LOG_LINE.sub("", line) for line in worker] == [
        "[debug] diagnostics-marker: worker after",
        "[warning] diagnostics-marker: worker after",
    ]
    assert all(" [worker diag] " in line for line in worker)


def test_typechecked_service_accepts_valid_calls(page: dict[str, Any]) -> None:
    checked = page["checked"]
    assert checked["valid"] == {"value": "abab"}
    assert checked["asyncValid"] == {"value": [0, 1, 2]}
    assert checked["afterViolations"] == {"value": "xxx"}


@pytest.mark.parametrize(
    ("outcome", "parameter"),
    [
        ("badParameter", "parameter factor='two' violates type hint <class 'int'>"),
        ("badKeyword", "parameter label=b'ab' violates type hint <class 'str'>"),
        ("asyncBad", "parameter count=3.5 violates type hint <class 'int'>"),
    ],
)
def test_a_beartype_violation_in_the_worker_reaches_main_naming_the_parameter(
    page: dict[str, Any], outcome: str, parameter: str
) -> None:
    found = error(page["checked"][outcome])
    assert parameter in found["message"]
    assert "BeartypeCallHintParamViolation" in found["type"] + found["message"]


def test_a_wrong_return_value_is_a_violation_too(page: dict[str, Any]) -> None:
    found = error(page["checked"]["badReturn"])
    assert "BeartypeCallHintReturnViolation" in found["type"] + found["message"]
    assert "return 'not an int' violates type hint <class 'int'>" in found["message"]


def test_without_the_opt_in_nothing_is_checked(page: dict[str, Any]) -> None:
    assert page["unchecked"] == {"value": "'ab' * 'two'"}
