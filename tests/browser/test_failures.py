"""Failures are Python failures: remote exceptions, adapters failing, timeouts, cancellation, dead workers, malformed
payloads and leaks, on a real page with real workers."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

FAILURES = PageSpec(
    "failures",
    workers=[
        WorkerSpec("faulty", src="worker_faulty.py"),
        WorkerSpec("doomed", src="worker_faulty.py"),
        WorkerSpec("closing", src="worker_faulty.py"),
    ],
    shared=["shared_failures.py", "worker_faulty.py", "worker_slow.py"],
    # Five workers boot, 3,100 fuzzed requests and 11,000 calls run: about a minute on a quiet 2-core machine, more
    # when other pages share it.
    timeout=240,
)


pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(FAILURES).results


def notes(found: dict[str, Any]) -> str:
    return "\n".join(found["notes"])


def test_builtin_exception_keeps_class_args_and_the_workers_traceback(page: dict[str, Any]) -> None:
    found = page["builtin"]
    assert (found["type"], found["module"], found["args"]) == ("ValueError", "builtins", "('bad input', 42)")
    assert "Raised in Faulty.raiseBuiltin() on worker 'faulty'; the worker's traceback:" in notes(found)
    # PyScript runs a worker's file as "<exec>" source, so frames name their line and function but show no code.
    assert "in raiseBuiltin\nValueError: ('bad input', 42)" in notes(found)


def test_exception_class_importable_on_both_sides_is_rebuilt(page: dict[str, Any]) -> None:
    found = page["shared"]
    assert (found["type"], found["module"]) == ("AppError", "shared_failures")
    assert found["message"] == "('application failed with code 7', 7)"
    assert page["sharedIsAppError"] is True


def test_class_main_cannot_rebuild_arrives_as_remote_error(page: dict[str, Any]) -> None:
    found = page["local"]
    assert found["type"] == "RemoteError"
    assert found["message"] == "__main__.Faulty.raiseLocal.<locals>.LocalOnly: only the worker knows this class"
    fields = page["localFields"]
    assert fields["remoteType"] == "__main__.Faulty.raiseLocal.<locals>.LocalOnly"
    assert fields["message"] == "only the worker knows this class"
    assert "in raiseLocal\n" in fields["traceback"]
    assert fields["traceback"].endswith("LocalOnly: only the worker knows this class\n")


def test_explicit_and_implicit_chains_survive(page: dict[str, Any]) -> None:
    chained = page["chained"]
    assert chained["type"] == "AppError"
    assert chained["cause"]["type"] == "KeyError"
    assert chained["cause"]["message"] == "'missing'"
    assert "The above exception was the direct cause" in notes(chained)
    implicit = page["implicit"]
    assert implicit["type"] == "RuntimeError"
    assert implicit["cause"] is None
    assert implicit["context"]["type"] == "ZeroDivisionError"


def test_system_exit_in_a_method_does_not_stop_the_worker(page: dict[str, Any]) -> None:
    # Not raised as itself on the main thread, where it would end the page's program: a RemoteError naming it.
    assert page["exit"]["type"] == "RemoteError"
    assert page["exit"]["message"].startswith("builtins.SystemExit")
    assert page["afterExceptions"] == 1


def test_adapter_failures_name_the_adapter_on_either_side(page: dict[str, Any]) -> None:
    inWorker = page["encodeInWorker"]
    assert inWorker["type"] == "AdapterError"
    assert (
        "the adapter for shared_failures.Fragile (registered in module 'shared_failures') failed to encode"
        in (inWorker["message"])
    )
    assert "return value" in inWorker["message"]
    assert "ValueError: cannot encode x" in inWorker["message"]
    onMain = page["decodeOnMain"]
    assert onMain["type"] == "AdapterError"
    assert (
        "failed to decode a received shared_failures.Fragile: ValueError: refusing to decode poison"
        in (onMain["message"])
    )
    sending = page["encodeOnMain"]
    assert sending["type"] == "AdapterError"
    assert "failed to encode args[0]: ValueError: cannot encode y" in sending["message"]
    receiving = page["decodeInWorker"]
    assert receiving["type"] == "AdapterError"
    assert "refusing to decode poison" in receiving["message"]
    assert "Raised in Faulty.takeFragile() on worker 'faulty'" in notes(receiving)
    assert page["fragileFine"] == "fine"
    assert page["afterAdapters"] == 2


def test_default_timeout_raises_timeout_error_promptly(page: dict[str, Any]) -> None:
    assert page["clientTimeout"] == 0.3
    found = page["defaultTimeout"]
    assert found["type"] == "TimeoutError"
    assert found["message"] == "Faulty.sleep() on worker 'faulty' did not answer within 0.3 s; a late answer is dropped"
    assert 0.3 - CLOCK_SLACK <= found["seconds"] < 1.0


# The page's clock (time.monotonic) and the timer the event loop sets (setTimeout) round differently: a deadline may
# fire up to a millisecond before the clock says it is due.
CLOCK_SLACK = 0.001


def test_per_call_timeout_overrides_the_default_both_ways(page: dict[str, Any]) -> None:
    assert page["overrideLonger"] == 0.6
    shorter = page["overrideShorter"]
    assert shorter["type"] == "TimeoutError"
    assert "within 0.2 s" in shorter["message"]
    assert 0.2 - CLOCK_SLACK <= shorter["seconds"] < 0.9
    assert "must be a positive number of seconds or None, got 0" in page["badTimeout"]["error"]["message"]


def test_a_worker_busy_in_a_sync_method_times_out_too(page: dict[str, Any]) -> None:
    found = page["blockedTimeout"]
    assert found["type"] == "TimeoutError"
    assert 0.3 - CLOCK_SLACK <= found["seconds"] < 0.9


def test_late_answers_are_dropped_without_error_or_leftovers(page: dict[str, Any]) -> None:
    assert page["afterLateAnswers"] == 2.2
    assert page["pendingAfterTimeouts"] == 0


def test_cancelling_the_caller_raises_cancelled_error_at_once(page: dict[str, Any]) -> None:
    found = page["cancelled"]
    assert found["type"] == "CancelledError"
    assert found["seconds"] < 0.5
    assert page["afterCancel"] == 3
    assert page["pendingAfterCancel"] == 0


def test_a_worker_still_loading_is_waited_for_within_the_timeout(page: dict[str, Any]) -> None:
    found = page["loadingTimeout"]
    assert found["type"] == "TimeoutError"
    assert found["message"] == "cannot connect to service Slow: no answer within 0.5 s"
    assert 0.45 <= found["seconds"] < 1.5  # the deadline, give or take the clocks' coarse resolution in a page
    assert page["loading"]["answer"] == "ready"
    assert page["loading"]["seconds"] > 1.0  # it really waited for the worker to load


def test_malformed_payloads_get_clear_failures_and_the_worker_keeps_serving(page: dict[str, Any]) -> None:
    fuzz = page["fuzz"]
    assert fuzz["cases"] == 3100
    assert fuzz["unexpected"] == []
    assert fuzz["failures"] + fuzz["kinds"].get("answered", 0) == fuzz["cases"]
    counts = {kind: sum(found.values()) for kind, found in fuzz["kinds"].items() if kind != "answered"}
    # Every case of these kinds is malformed; a flipped bit may leave a valid request (a digit of an argument).
    assert counts == {
        "random bytes": 800,
        "truncated": 600,
        "bit flipped": counts["bit flipped"],
        "wrong shape": 600,
        "wrong names": 300,
        "bad frame": 200,
    }
    assert counts["bit flipped"] > 400
    failedKinds = {kind for kind in fuzz["kinds"] if kind != "answered"}
    assert failedKinds == {"random bytes", "truncated", "bit flipped", "wrong shape", "wrong names", "bad frame"}
    assert page["afterFuzz"] > 0


@pytest.mark.parametrize("side", ["main", "worker"])
def test_eleven_thousand_calls_leak_nothing(page: dict[str, Any], side: str) -> None:
    before, after = page["leaks"]["before"][side], page["leaks"]["after"][side]
    assert after["heapBytes"] == before["heapBytes"], f"the Wasm heap grew: {before} -> {after}"
    assert after["pyProxies"] == before["pyProxies"], f"PyProxies left alive: {before} -> {after}"
    assert after["jsRefs"] - before["jsRefs"] <= 2, f"JavaScript references left alive: {before} -> {after}"
    assert after["pyObjects"] - before["pyObjects"] < 200, f"Python objects accumulate: {before} -> {after}"


def test_terminated_worker_fails_pending_calls_promptly_and_later_ones_fast(page: dict[str, Any]) -> None:
    terminated = page["terminated"]
    assert terminated["seconds"] < 5.0, terminated  # a worker busy in a long computation takes longest to end
    for outcome in terminated["outcomes"]:
        assert outcome["type"] == "WorkerClosedError"
        assert outcome["message"] == "worker 'doomed' stopped (terminated or crashed) while this call was pending"
    after = page["afterTerminate"]
    assert after["type"] == "WorkerClosedError"
    assert after["message"] == (
        "cannot call Faulty.ping() on worker 'doomed': worker 'doomed' stopped (terminated or crashed)"
    )
    assert after["seconds"] < 0.1


def test_worker_that_closes_itself_fails_pending_calls(page: dict[str, Any]) -> None:
    closed = page["selfClosed"]
    assert closed["outcome"]["type"] == "WorkerClosedError"
    assert closed["seconds"] < 2.0
    assert page["afterSelfClose"]["type"] == "WorkerClosedError"
    assert page["otherWorkerFine"] is True
