"""Cancellation you can rely on (issue 21, item 7), on real pages and workers, on both Pyodide releases: a cancelled
sync method's except and finally blocks run whatever its loop holds, calls cancelled before the worker started them
never start, and a cancelled pool.map starts no further items."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

CANCELLING = PageSpec(
    "cancelling",
    workers=[WorkerSpec("stopper", src="worker_cancelling.py")],
    shared=["worker_cancelling.py"],
    timeout=240,
)

pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(CANCELLING).results


# branchy: a backward jump without an exception-table entry on CPython 3.14 (Pyodide 314.x); condition: the same on
# 3.13 (0.29.5, CPython gh-130279); straight: none on either.
@pytest.mark.parametrize("loop", ["branchy", "condition", "straight"])
def test_a_cancelled_sync_method_runs_its_except_and_finally_blocks(page: dict[str, Any], loop: str) -> None:
    assert page[loop] == [{"cancelled": True, "record": ["except", "finally"]}] * 3


def test_interrupting_leaves_no_monitoring_tool_behind_and_the_pages_own_untouched(page: dict[str, Any]) -> None:
    tools = page["tools"]
    assert tools["ids"] == [None, None, None, None, "the page's own tool", None]
    assert tools["ownEvents"] == tools["pyStart"]
    assert page["toolsAfter"]["ids"] == [None] * 6


def test_calls_queued_in_the_same_message_as_a_cancelled_call_never_start(page: dict[str, Any]) -> None:
    for run in page["queued"]:
        assert run["starts"] == ["a"]  # a was interrupted; b and c, cancelled with it, never started
        assert run["seconds"] < 5  # not the 30 s each of them would spin


def test_a_cancelled_pool_map_starts_no_further_items(page: dict[str, Any]) -> None:
    pool = page["poolMap"]
    assert pool["cancelled"] is True
    assert len(pool["startedAtCancel"]) == 2
    started = sorted(entry for starts in pool["startsPerWorker"] for entry in starts)
    assert started == [f"item {index}" for index in pool["startedAtCancel"]]
    assert [len(starts) for starts in pool["startsPerWorker"]] == [1, 1]
    assert pool["callbacksAfter"] == pool["startedAtCancel"]
    assert pool["seconds"] < 1.0  # both workers answer at once: the running items were interrupted
