"""Beyond one call, on real pages and workers: streams, callbacks, cancellation that reaches the worker, pools."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

BEYOND = PageSpec(
    "beyond",
    workers=[WorkerSpec("jobs", src="worker_beyond.py")],
    shared=["worker_beyond.py"],
    timeout=240,
)

pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(BEYOND).results


# ---- streams ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["ticks", "crunchItems"])
def test_items_arrive_as_the_worker_yields_them(page: dict[str, Any], method: str) -> None:
    arrivals = page[method]
    items = [item["tick"] if isinstance(item, dict) else item for item, _ in arrivals]
    assert items == list(range(len(arrivals)))
    times = [at for _, at in arrivals]
    # Each item takes 0.25-0.3 s in the worker: the first arrives long before the last, not all at the end.
    assert times[-1] - times[0] > 0.6, times


def test_the_generator_is_closed_at_the_end(page: dict[str, Any]) -> None:
    assert page["ticksClosedAtEnd"] is True


def test_break_closes_the_workers_generator_within_a_second(page: dict[str, Any]) -> None:
    closing = page["breakCloses"]
    assert closing["closed"] is True
    assert closing["seconds"] < 1.0
    assert closing["again"] == []  # the loop was left: the stream is over


def test_backpressure_bounds_how_far_the_worker_runs_ahead(page: dict[str, Any]) -> None:
    pressure = page["backpressure"]
    window = pressure["window"]
    assert pressure["taken"] == list(range(9))
    # One item taken, twenty round trips later the generator has produced exactly the window, never more.
    assert max(pressure["ahead"]) == window
    # Nine taken: it ran on, at most the window past what was taken.
    assert window < max(pressure["later"]) <= 9 + window


def test_a_generators_exception_is_raised_in_the_async_for_after_its_items(page: dict[str, Any]) -> None:
    failing = page["failing"]
    assert failing["items"] == [1, 2]
    assert failing["error"]["type"] == "ValueError"
    assert failing["error"]["message"] == "the generator broke"
    assert "Jobs.failing() on worker 'jobs'" in failing["error"]["notes"][0]


def test_several_streams_at_once(page: dict[str, Any]) -> None:
    assert page["concurrent"] == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 2, 3]]


def test_a_stream_timeout_bounds_the_wait_for_an_item_and_stops_the_generator(page: dict[str, Any]) -> None:
    timeout = page["streamTimeout"]
    assert timeout["items"] == [1]
    assert timeout["error"]["type"] == "TimeoutError"
    assert "sent no item within 0.5 s" in timeout["error"]["message"]
    assert 0.5 <= timeout["seconds"] < 2.0
    assert timeout["closed"] is True


# ---- callbacks ----------------------------------------------------------------------------------------------------


def test_fire_and_forget_progress_from_a_sync_method_arrives_in_order(page: dict[str, Any]) -> None:
    assert page["progress"] == {"result": "crunched", "reports": list(range(40))}


def test_an_awaited_callback_returns_its_value(page: dict[str, Any]) -> None:
    awaited = page["awaited"]
    assert awaited["lambda"] == "answer: qq"
    assert awaited["async"] == "answer: WHY"
    assert awaited["bound"] == "answer: bound x"
    assert awaited["nested"] == [1, 8]  # a built-in, and a partial inside a list inside a dict


def test_an_awaited_callback_raises_its_exception_in_the_worker(page: dict[str, Any]) -> None:
    assert page["awaited"]["raised"] == {"raised": "KeyError", "message": "'missing'"}


def test_a_late_call_of_a_callback_fails_clearly(page: dict[str, Any]) -> None:
    late = page["late"]
    assert late["type"] == "CallbackExpiredError"
    assert "was called after the call that received it ended" in late["message"]


# ---- cancellation -------------------------------------------------------------------------------------------------


def test_cancelling_an_async_call_cancels_it_in_the_worker(page: dict[str, Any]) -> None:
    cancel = page["asyncCancel"]
    assert cancel["cancelled"] is True
    assert cancel["workerSaw"] is True


def test_diagnostics_say_a_sync_method_is_interrupted_here(page: dict[str, Any]) -> None:
    assert page["syncCancellation"] == (
        "sync cancellation: interrupts a running sync method (KeyboardInterrupt in the worker)"
    )


def test_a_spinning_sync_method_is_interrupted_at_its_deadline(page: dict[str, Any]) -> None:
    timeout = page["syncTimeout"]
    assert timeout["outcome"]["error"]["type"] == "TimeoutError"
    assert timeout["seconds"] < 1.5  # the 0.5 s deadline, not the method's 30 s
    assert timeout["interrupted"] is True  # KeyboardInterrupt inside the method
    assert timeout["ping"] == "pong"
    assert timeout["pingSeconds"] < 1.0  # the worker answers the next call at once


def test_a_spinning_sync_method_is_interrupted_by_task_cancel(page: dict[str, Any]) -> None:
    cancel = page["syncCancel"]
    assert cancel["cancelled"] is True
    assert cancel["seconds"] < 1.0
    assert cancel["interrupted"] is True
    assert cancel["ping"] == "pong"
    assert cancel["pingSeconds"] < 1.0


def test_cancelling_a_streams_consumer_stops_the_stream(page: dict[str, Any]) -> None:
    assert page["consumerCancel"] is True


# ---- pools --------------------------------------------------------------------------------------------------------


def test_pool_map_keeps_order_over_two_workers(page: dict[str, Any]) -> None:
    pool = page["pool"]
    assert pool["size"] == 2
    assert len(set(pool["workers"])) == 2
    assert pool["map"] == [x * x for x in range(20)]
    assert pool["owners"] == 2  # eight jobs, both workers took some


def test_streams_and_callbacks_through_a_pool(page: dict[str, Any]) -> None:
    pool = page["pool"]
    assert pool["stream"] == [0, 1, 2, 3, 4]
    assert pool["callback"] == {"result": "crunched", "reports": [0, 1, 2, 3, 4]}


def test_a_killed_pool_worker_fails_its_calls_and_is_replaced(page: dict[str, Any]) -> None:
    pool = page["pool"]
    assert pool["pendingOnKilled"]["error"]["type"] == "WorkerClosedError"
    assert pool["replaced"] is True
    assert len(set(pool["workersAfter"])) == 2
    assert pool["mapAfter"] == [0, 1, 4, 9, 16, 25]


def test_a_closed_pool_stopped_its_workers(page: dict[str, Any]) -> None:
    pool = page["pool"]
    assert pool["afterClose"]["error"]["type"] == "WorkerClosedError"
    assert pool["scriptsLeft"] == []


# ---- without cross-origin isolation -------------------------------------------------------------------------------

PLAIN = PageSpec(
    "beyond",
    main="plain_main.py",
    workers=[WorkerSpec("jobs", src="worker_beyond.py", syncMainOnly=True)],
    shared=["worker_beyond.py"],
)


@pytest.fixture(scope="module")
def plainPage(openPlainPage: RunPage) -> dict[str, Any]:
    return openPlainPage(PLAIN).results


def test_streams_and_callbacks_need_no_shared_memory(plainPage: dict[str, Any]) -> None:
    assert plainPage["isolated"] is False
    assert plainPage["sharedArrayBuffer"] is False
    assert plainPage["stream"] == list(range(40))
    assert plainPage["progress"] == {"result": "crunched", "reports": list(range(10))}
    assert plainPage["awaited"] == "answer: qqq"


def test_without_isolation_a_cancelled_sync_method_runs_to_its_end(plainPage: dict[str, Any]) -> None:
    assert plainPage["syncCancellation"] == (
        "sync cancellation: a running sync method runs to its end, its answer dropped (the page is not cross-origin "
        "isolated)"
    )
    assert plainPage["timedOut"]["error"]["type"] == "TimeoutError"
    assert plainPage["timedOutAfter"] < 1.0  # the caller is not held up...
    assert plainPage["pingAfter"] >= 1.5  # ...but the worker is, until the method ends
    assert plainPage["ping"] == "pong"
    assert "spinFor interrupted" not in plainPage["history"]
