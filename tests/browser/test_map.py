"""``client.map`` on a real page: 100 calls in one message each way, counted in JavaScript on both ends of the port,
and the first failure, a deadline or a cancelled task stopping every call still held in the worker."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

pytestmark = EVERY_PYODIDE

MAPPING = PageSpec(
    "mapping",
    workers=[WorkerSpec("mapper", src="worker_map.py")],
    shared=["../channel/channelkit.py", "worker_map.py"],
)


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(MAPPING).results


def section(page: dict[str, Any], name: str) -> dict[str, Any]:
    """One section of the page's results; a section that raised fails the test with the page's traceback."""
    if "sectionFailed" in page["connect"]:
        pytest.fail(f"the page could not connect to worker 'mapper':\n{page['connect']['traceback']}")
    found: dict[str, Any] = page[name]
    if "sectionFailed" in found:
        pytest.fail(f"the page's {name!r} section raised:\n{found['traceback']}")
    return found


def test_a_map_of_a_hundred_adds_is_right_and_takes_one_message_each_way(page: dict[str, Any]) -> None:
    hundred = section(page, "hundred")
    assert hundred["resultsRight"] is True
    assert hundred["boundMethod"] == [11, 22]
    # Counted in JavaScript on the main thread's end of the port, and in the worker on its end.
    assert 1 <= hundred["main"]["sent"] <= 2, hundred
    assert 1 <= hundred["main"]["received"] <= 2, hundred
    assert 1 <= hundred["worker"]["received"] <= 2, hundred
    assert 1 <= hundred["worker"]["sent"] <= 2, hundred
    assert hundred["frames"] == [100, 100]


def test_the_first_failure_is_raised_and_the_other_calls_are_stopped_in_the_worker(page: dict[str, Any]) -> None:
    failing = section(page, "failing")
    assert failing.get("error") == "three", failing
    assert failing["notes"][0].startswith("Raised in Mapper.holdUnlessThree() on worker 'mapper', map item 3")
    assert failing["stopped"] == 5


def test_with_timeout_bounds_the_map_and_stops_its_calls(page: dict[str, Any]) -> None:
    timingOut = section(page, "timingOut")
    assert timingOut.get("error", "").startswith(
        "map(Mapper.hold) of 4 items on worker 'mapper' did not answer within 0.3 s (4 of 4 calls unanswered"
    ), timingOut
    assert timingOut["stopped"] == 4
    assert timingOut["after"] == [3]


def test_cancelling_the_awaiting_task_stops_every_call(page: dict[str, Any]) -> None:
    assert section(page, "cancelling") == {"outcome": "cancelled", "stopped": 3}


def test_an_item_that_cannot_cross_is_named_by_its_index(page: dict[str, Any]) -> None:
    error = section(page, "unsendable")["error"]
    assert error.startswith("map item 2, args[0]: cannot send a JavaScript function"), error
