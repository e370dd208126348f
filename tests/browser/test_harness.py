"""The harness itself: a page whose Python raises fails the test, and the report carries the traceback."""

from __future__ import annotations

import textwrap
import time

import pytest
from playwright.sync_api import Browser

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
    assert "the page shows an error" in message
    assert "ZeroDivisionError" in message
    # PyScript runs a script's text, so its frames are named "<exec>"; the line and function are the page's own.
    assert 'File "<exec>", line 5, in computeRatio' in message
    assert "Traceback (most recent call last)" in message


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
