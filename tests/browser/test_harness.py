"""The harness itself: a page whose Python raises fails the test, and the report carries the traceback."""

from __future__ import annotations

import textwrap
import threading
import time

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tools.browser import PageError, waitForPage
from tools.devserver import DevServer

from .harness import REPOSITORY, PageFailure, PageSpec, WorkerSpec, runPage

MAIN_RAISES = PageSpec("broken", main="main_raises.py")
WORKER_RAISES = PageSpec("broken", main="main_waits.py", workers=[WorkerSpec("broken", src="worker_raises.py")])


def test_a_failing_page_fails_the_test_with_its_traceback_in_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner=textwrap.dedent(
            """
            from tests.browser.harness import PageSpec

            def test_page(openPage):
                openPage(PageSpec("broken", main="main_raises.py"))
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "tests.browser.conftest", "-p", "no:cacheprovider", "--rootdir", ".")
    result.assert_outcomes(failed=1)
    report = result.stdout.str()
    assert "PageError" in report
    assert "Traceback (most recent call last)" in report
    assert "ZeroDivisionError: division by zero" in report
    assert "computeRatio" in report  # the frame from the page's own code


def test_main_script_traceback_names_the_error_and_the_frame(browser: Browser, server: DevServer) -> None:
    with pytest.raises(PageFailure) as failure:
        runPage(browser, server.origin, MAIN_RAISES)
    message = str(failure.value)
    # Both signs, whichever came first (on a loaded machine the console's traceback can precede the banner).
    assert "the page shows an error and a script printed a Python traceback" in message
    assert "ZeroDivisionError" in message
    # PyScript runs a script's text, so its frames are named "<exec>"; the line and function are the page's own.
    assert 'File "<exec>", line 5, in computeRatio' in message
    assert "Traceback (most recent call last)" in message


class ScriptedPage:
    """A stand-in for a Playwright page on which a failure shows as a banner and a console traceback, each arriving
    after a given number of waits; every wait is one step of the page's time."""

    url = "http://scripted/index.html"

    def __init__(self, console: list[str], bannerAt: int, tracebackAt: int) -> None:
        self.consoleLines = console
        self.bannerAt, self.tracebackAt = bannerAt, tracebackAt
        self.steps = 0
        self.fatal = threading.Event()
        self.lines: list[str] = []

    def wait_for_function(self, expression: str, timeout: float) -> None:
        self.steps += 1
        if self.steps == self.tracebackAt:
            self.lines.extend(self.consoleLines)
            self.fatal.set()
        if "py-error" in expression and self.steps >= self.bannerAt:
            return
        raise PlaywrightTimeout("scripted wait")

    def eval_on_selector_all(self, selector: str, script: str) -> list[str]:
        return ["ZeroDivisionError: division by zero (banner)"] if self.steps >= self.bannerAt else []


@pytest.mark.parametrize(("bannerAt", "tracebackAt"), [(1, 3), (3, 1), (2, 2)], ids=["banner", "console", "together"])
def test_the_report_is_the_same_whichever_sign_of_a_failure_comes_first(bannerAt: int, tracebackAt: int) -> None:
    page = ScriptedPage(['[error] Traceback (most recent call last):\n  File "<exec>", line 5'], bannerAt, tracebackAt)
    with pytest.raises(PageError) as failure:
        waitForPage(page, page, "false", timeout=60)  # type: ignore[arg-type]  # the stand-in serves as both
    assert str(failure.value) == (
        "the page shows an error and a script printed a Python traceback: http://scripted/index.html\n"
        "--- error shown on the page ---\nZeroDivisionError: division by zero (banner)\n"
        '--- console ---\n[error] Traceback (most recent call last):\n  File "<exec>", line 5'
    )


def test_worker_traceback_fails_fast_instead_of_timing_out(browser: Browser, server: DevServer) -> None:
    started = time.monotonic()
    with pytest.raises(PageFailure) as failure:
        runPage(browser, server.origin, WORKER_RAISES, timeout=60)
    assert time.monotonic() - started < 30
    message = str(failure.value)
    assert "LookupError: settings table 'harness-probe' is missing" in message
    assert "loadSettings" in message


def test_repository_root_is_importable_for_inner_runs() -> None:
    assert (REPOSITORY / "tests" / "browser" / "conftest.py").exists()
