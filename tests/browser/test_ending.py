"""Ending a worker from Python on a real page (``client.worker.terminate()``), on every Pyodide release: a declared
worker and a spawned one, each stopped in the middle of a sync method that never returns; and what public objects
print there."""

from __future__ import annotations

from typing import Any

import pytest

from workerlib.client import TERMINATED

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec, WorkerSpec

pytestmark = EVERY_PYODIDE  # every test here runs on 314.0.2 and on 0.29.5

ENDING = PageSpec("ending", workers=[WorkerSpec("victim")], shared=["worker.py"])


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(ENDING).results


def test_client_worker_is_workerlibs_handle_with_pyscripts_object_beside(page: dict[str, Any]) -> None:
    assert page["handle"] == {"isHandle": True, "name": "victim", "jsIsProxy": True, "scripts": 1}


@pytest.mark.parametrize(("case", "name"), [("declared", "victim"), ("spawned", "spawned-end")])
def test_the_handle_prints_its_worker_and_state(page: dict[str, Any], case: str, name: str) -> None:
    ended = page[case]
    assert ended["before"] == {
        "repr": f"<workerlib worker {name!r}, running>",
        "str": f"<workerlib worker {name!r}, running>",
        "running": True,
        "client": f"<EndlessClient for worker {name!r}>",
    }
    assert ended["after"] == {
        "repr": f"<workerlib worker {name!r}, {TERMINATED}>",
        "running": False,
        "client": f"<EndlessClient for worker {name!r}, which {TERMINATED}>",
    }


@pytest.mark.parametrize(("case", "name"), [("declared", "victim"), ("spawned", "spawned-end")])
def test_terminate_stops_a_worker_in_the_middle_of_a_sync_method(page: dict[str, Any], case: str, name: str) -> None:
    ended = page[case]
    assert ended["pending"]["error"]["type"] == "WorkerClosedError"
    assert ended["pending"]["error"]["message"] == f"worker {name!r} {TERMINATED} while this call was pending"
    # The browser frees the lock the worker held only when its thread has ended: the worker really stopped.
    assert ended["threadEnded"] is True
    assert ended["scripts"] == 0
    assert ended["again"] == {"returned": "None"}


@pytest.mark.parametrize("case", ["declared", "spawned"])
def test_calls_after_terminate_fail_saying_why(page: dict[str, Any], case: str) -> None:
    later = page[case]["later"]["error"]
    assert later["type"] == "WorkerClosedError"
    assert later["message"].endswith(TERMINATED)


def test_a_terminated_declared_worker_is_gone_from_the_page(page: dict[str, Any]) -> None:
    assert page["declaredReconnect"]["error"]["type"] == "ConnectError"
    assert "no worker named 'victim'" in page["declaredReconnect"]["error"]["message"]
    assert page["closeAfter"] == {"value": None}


def test_a_terminated_spawned_worker_closes_quietly_and_the_page_spawns_on(page: dict[str, Any]) -> None:
    assert page["spawnedClose"] == {"value": None}
    assert page["respawned"] == {
        "ping": "pong new",
        "repr": "<workerlib worker 'spawned-end-2', running>",
        "scripts": 1,
        "afterClose": "<EndlessClient for worker 'spawned-end-2', closed>",
    }


def test_public_objects_print_usefully_in_a_browser(page: dict[str, Any]) -> None:
    assert page["reprs"] == {
        "transfer": "<Transfer: Uint8Array, its ArrayBuffer moves>",
        "transferBuffer": "<Transfer: the ArrayBuffer moves>",
        "diagnostics": True,
        "errors": ["WorkerClosedError('x')", "y"],
    }
