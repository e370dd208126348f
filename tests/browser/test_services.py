"""WorkerService end to end: real PyScript pages, real Pyodide workers."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

SERVICES = PageSpec(
    "services",
    workers=[
        WorkerSpec("calc", src="worker_calc.py"),
        WorkerSpec("text", src="worker_text.py"),
        WorkerSpec("text2", src="worker_text.py"),
        WorkerSpec("plain", src="worker_plain.py"),
    ],
    shared=["shared_calc.py", "worker_calc.py", "worker_text.py", "worker_spawned.py"],
)
# A page served without COOP/COEP (GitHub Pages cannot set them), its worker declared sync_main_only.
NO_ISOLATION = PageSpec("smoke", workers=[WorkerSpec("w", syncMainOnly=True)], shared=["worker.py"])


pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(SERVICES).results


def error(outcome: dict[str, Any]) -> dict[str, Any]:
    assert "error" in outcome, f"expected an error, got {outcome}"
    found: dict[str, Any] = outcome["error"]
    return found


def test_interface_class_reaches_the_workers_implementation(page: dict[str, Any]) -> None:
    assert page["calcWorker"] == "calc"
    assert page["whoami"] == "CalculatorImpl"
    assert page["add"] == 3
    assert page["addKeywords"] == 12


def test_worker_file_imported_on_main_serves_nothing_there(page: dict[str, Any]) -> None:
    assert page["mainServesNothing"] is True


@pytest.mark.parametrize("method", ["add", "slowSquare", "params", "whoami"])
def test_client_methods_keep_signature_docstring_and_annotations(page: dict[str, Any], method: str) -> None:
    seen = page["signatures"][method]
    assert seen["service"].startswith("(self")
    assert seen["client"] == seen["service"].replace("(self, ", "(").replace("(self)", "()")
    assert seen["doc"] == seen["serviceDoc"]
    assert seen["annotations"] == seen["serviceAnnotations"]
    assert seen["name"] == method
    assert page["clientDoc"] == "Arithmetic done in a worker."


def test_arguments_that_do_not_bind_raise_type_error_before_sending(page: dict[str, Any]) -> None:
    bad = page["badArguments"]
    assert error(bad["missing"]) == {
        "type": "TypeError",
        "module": "builtins",
        "message": "Calculator.add(): missing a required argument: 'b'",
        "notes": [],
    }
    assert error(bad["tooMany"])["message"] == "Calculator.add(): too many positional arguments"
    assert error(bad["unknownKeyword"])["message"] == "Calculator.add(): got an unexpected keyword argument 'c'"
    assert error(bad["keywordOnlyMissing"])["message"] == "Calculator.params(): missing a required argument: 'k'"
    assert page["callsAfterBadArguments"] == 0  # the worker saw none of them


def test_every_parameter_kind_reaches_the_worker_as_written(page: dict[str, Any]) -> None:
    params = page["params"]
    assert params["defaults"] == "{'a': 1, 'b': 20, 'args': (), 'k': 2, 'flag': False, 'kwargs': {}}"
    assert params["everything"] == (
        "{'a': 1, 'b': 2, 'args': (3, 4), 'k': 5, 'flag': True, 'kwargs': {'extra': 6, 'more': [7]}}"
    )
    assert params["keywordsOnly"] == "{'a': 1, 'b': 2, 'args': (), 'k': 3, 'flag': False, 'kwargs': {'z': 4}}"


def test_a_hundred_concurrent_calls_each_get_their_own_result(page: dict[str, Any]) -> None:
    assert page["concurrent"] is True


def test_each_call_reports_where_its_time_went(page: dict[str, Any]) -> None:
    timing = page["timing"]
    assert timing["before"] == "None"
    assert timing["result"] == 9
    assert timing["type"] == "CallTiming"
    assert 0.05 <= timing["execution"] < 0.5  # the method slept 50 ms in the worker
    assert 0 < timing["argumentTransfer"] < 0.5
    assert 0 < timing["returnTransfer"] < 0.5
    parts = timing["argumentTransfer"] + timing["execution"] + timing["returnTransfer"]
    assert abs(parts - timing["total"]) < 0.002
    assert timing["text"].startswith(f"{timing['total'] * 1000:.2f} ms (arguments ")


def test_a_call_is_a_coroutine_that_tasks_accept(page: dict[str, Any]) -> None:
    assert page["createTask"] == 5


def test_underscore_and_inherited_names_are_not_served(page: dict[str, Any]) -> None:
    private = page["privateMethod"]
    assert private["onClient"] is False
    for attempt, name in (("crafted", "_secret"), ("unknown", "missing"), ("inherited", "connect")):
        found = error(private[attempt])
        assert found["type"] == "ProtocolError"
        assert f"service CalculatorImpl has no public method {name!r}" in found["message"]
        assert "add, slowSquare, params, whoami, callCount" in found["message"]


def test_several_services_in_one_worker(page: dict[str, Any]) -> None:
    assert page["inventory"] == {"worker": "calc", "first": 1, "second": 3}
    assert page["otherClientStillWorks"] == 4


def test_several_workers_serving_one_service_need_a_name(page: dict[str, Any]) -> None:
    found = error(page["textAmbiguous"])
    assert found["type"] == "ConnectError"
    assert (
        "several workers serve service TextTools ('text', 'text2'); pass workerName= to choose one"
        in (found["message"])
    )
    assert page["text2"] == {"worker": "text2", "shout": "HI!"}
    assert page["text"] == {"worker": "text", "differentWorker": True, "sameClientClass": True}


def test_connect_errors_name_what_was_found(page: dict[str, Any]) -> None:
    wrong = error(page["wrongWorker"])
    assert wrong["type"] == "ConnectError"
    assert wrong["message"] == "worker 'text' does not serve service Calculator; it serves services TextTools"
    missing = error(page["noSuchWorker"])
    assert missing["message"] == "no worker named 'nope' on this page (named workers: 'calc', 'text', 'text2', 'plain')"
    unserved = error(page["unserved"])["message"]
    assert unserved.startswith("no worker on this page serves service Unserved (found ")
    assert "'calc' serves services Calculator, CalculatorImpl, Inventory and functions double" in unserved
    assert "'text' serves services TextTools" in unserved
    assert "worker 'plain' does not answer workerlib requests" in unserved


def test_every_client_exposes_its_worker_and_the_raw_pyscript_object(page: dict[str, Any]) -> None:
    expected = [
        "<class 'workerlib.client.WorkerHandle'>",
        "<class 'pyodide.ffi.JsProxy'>",
        "<workerlib worker 'calc', running>",
    ]
    assert page["rawWorker"] == expected
    assert page["exported"]["rawWorker"] == expected
    assert page["exported"]["repr"] == "<Worker 'calc' exporting double>"


def test_exported_functions_through_connect_to_worker(page: dict[str, Any]) -> None:
    exported = page["exported"]
    assert exported["double"] == 42
    assert exported["names"] == ["double"]
    assert error(exported["missing"])["message"] == "worker 'calc' exports no function 'triple'; it exports double"
    assert page["connectToWorkerNoName"] == "calc"


def test_spawn_creates_a_worker_and_close_terminates_it(page: dict[str, Any]) -> None:
    spawned = page["spawned"]
    assert spawned["ping"] == "pong x"
    assert spawned["worker"] == "spawned-1"
    assert spawned["scriptsBefore"] == 1
    assert spawned["scriptsAfter"] == 0
    assert error(spawned["afterClose"])["type"] == "WorkerClosedError"


def test_async_with_releases_a_spawned_worker(page: dict[str, Any]) -> None:
    scoped = page["spawnedScoped"]
    assert scoped["worker"] == "Spawned-1"
    assert scoped["ping"] == "pong z"
    assert scoped["scriptsAfter"] == 0
    assert error(scoped["afterClose"])["type"] == "WorkerClosedError"


def test_closed_client_fails_fast(page: dict[str, Any]) -> None:
    closed = error(page["closedClient"])
    assert closed["type"] == "WorkerClosedError"
    assert closed["message"] == "cannot call Calculator.add() on worker 'calc': the client was closed"


def test_sync_main_only_worker_without_isolation_headers(openPlainPage: RunPage) -> None:
    results = openPlainPage(NO_ISOLATION).results
    assert results["echo"] == "{'a': (1, 2), 'b': {3, 4}}"
    assert results["add"] == 42
    assert results["isolated"] is False
