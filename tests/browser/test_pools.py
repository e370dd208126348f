"""Pools on real pages and workers (issue 23): growth to maxSize under load and shrinking after idleTimeout, a map over
a generator held to maxQueue, broadcast state on workers started later (by growth and by replacement), imap order
and imapUnordered completion order, a cancelled imap, stats() and close(timeout=...).

One page runs every section on one pool (2 workers, maxSize 3, idleTimeout 1 s, maxQueue 2); see
tests/browser/pages/pools/main.py. The same features run fast on loopback workers in tests/unit/test_pool_queue.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import EVERY_PYODIDE, RunPage
from .harness import PageSpec

POOLS = PageSpec("pools", shared=["worker_pools.py"], timeout=400)
MEBIBYTE = 1 << 20

pytestmark = EVERY_PYODIDE


@pytest.fixture(scope="module")
def page(openPage: RunPage) -> dict[str, Any]:
    return openPage(POOLS).results


def section(page: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = page[name]
    assert "sectionFailed" not in found, found.get("traceback")
    return found


def test_a_pool_starts_n_workers(page: dict[str, Any]) -> None:
    boot = page["boot"]
    assert boot["size"] == 2
    assert boot["stats"]["idle"] == 2
    assert boot["stats"]["busy"] == boot["stats"]["starting"] == boot["stats"]["waiting"] == 0


def test_a_broadcast_reaches_every_worker(page: dict[str, Any]) -> None:
    assert section(page, "broadcastAndGrow")["broadcast"] == [MEBIBYTE, MEBIBYTE]


def test_the_pool_grows_to_max_size_while_calls_wait(page: dict[str, Any]) -> None:
    grow = section(page, "broadcastAndGrow")
    assert grow["allStarted"] is True
    assert grow["grown"]["workers"] == 3
    assert grow["grown"]["busy"] == 3
    assert len(grow["newWorkers"]) == 1


def test_a_worker_started_by_growth_holds_the_broadcast_before_its_first_call(page: dict[str, Any]) -> None:
    grow = section(page, "broadcastAndGrow")
    # Each gated item returns [key, bytes of broadcast data its worker held when it ran]: the third ran on the new one.
    assert [known for _, known in grow["unordered"]] == [MEBIBYTE] * 3
    assert grow["knownEverywhere"] == [MEBIBYTE] * 3


def test_imap_unordered_yields_in_completion_order(page: dict[str, Any]) -> None:
    assert [key for key, _ in section(page, "broadcastAndGrow")["unordered"]] == [2, 0, 1]


def test_the_pool_shrinks_back_to_n_after_idle_timeout(page: dict[str, Any]) -> None:
    grow = section(page, "broadcastAndGrow")
    assert grow["shrunk"] is True
    assert grow["afterShrink"]["workers"] == 2
    assert any("stopped after 1 s idle" in line for line in page["log"])
    assert any("started for calls waiting" in line for line in page["log"])


def test_imap_keeps_input_order(page: dict[str, Any]) -> None:
    ordered = section(page, "orderedImap")
    assert ordered["heldBack"] == []  # item 1 had finished, item 0 not: nothing yielded yet
    assert ordered["ordered"] == [0, 1]
    assert ordered["chunked"] is True


def test_a_map_over_a_generator_holds_at_most_the_running_and_queued_items(page: dict[str, Any]) -> None:
    held = section(page, "backpressure")
    assert held["ok"] is True
    assert held["read"] == 150
    assert held["maxHeld"] <= 3 + 2  # maxSize workers running, maxQueue waiting
    assert held["asyncOk"] is True  # an async generator as the source, read as lazily
    assert held["asyncMaxHeld"] <= (3 + 2) * 2  # the same lanes, two items a chunk


def test_a_replacement_worker_holds_the_broadcast_state(page: dict[str, Any]) -> None:
    replaced = section(page, "replacement")
    assert replaced["replaced"] is True
    assert replaced["known"] == [MEBIBYTE, MEBIBYTE]
    # Each death is logged; at least one of them left fewer than n workers, so a replacement was started for it.
    assert sum("was terminated with worker.terminate()" in line for line in replaced["log"]) == 2
    assert any("starting another" in line for line in replaced["log"])
    assert any("started to replace" in line for line in replaced["log"])


def test_a_cancelled_imap_starts_nothing_more_and_the_workers_serve_the_next_call(page: dict[str, Any]) -> None:
    cancelled = section(page, "cancelledImap")
    assert cancelled["first"] is True
    assert cancelled["settled"] is True
    assert cancelled["started"] <= 1 + 3 + 2  # the first item, then at most what the lanes had running or queued
    assert cancelled["interrupted"] >= 1  # the 2-second items in flight were interrupted in their sync method
    assert cancelled["startedLater"] == 0
    assert cancelled["again"] == 42


def test_stats_add_up_to_what_ran(page: dict[str, Any]) -> None:
    counted = section(page, "counting")
    assert counted["completed"] == 5
    assert counted["failed"] == 1
    assert "ValueError('negative: -1')" in counted["outcomes"]
    assert counted["timed"]["error"]["type"] == "TimeoutError"
    assert counted["settled"] is True
    stats = counted["stats"]
    assert stats["workers"] == stats["idle"] + stats["busy"] + stats["starting"]
    assert stats["cancelled"] >= 2  # the two items the map's deadline stopped, and the imap's
    assert 0 < stats["medianRun"] <= stats["maxRun"]
    assert 0 <= stats["medianWait"] <= stats["maxWait"]
    assert 0 < stats["utilization"] < 1


def test_a_pool_with_a_config_of_its_own_gets_its_files(page: dict[str, Any]) -> None:
    own = section(page, "ownConfig")
    assert own["text"] == "read from a file only this pool's config lists\n"
    assert own["known"] is None  # a pool of its own: no broadcast reached it


def test_close_with_a_timeout_stops_a_call_that_runs_past_it(page: dict[str, Any]) -> None:
    closing = section(page, "closing")
    assert closing["closedIn"] < 5  # the call would have run 30 s
    assert closing["running"]["error"]["type"] == "WorkerClosedError"
    assert "pool.close(timeout=0.5) ran out" in closing["running"]["error"]["message"]
    assert closing["later"]["error"]["type"] == "WorkerClosedError"
    assert closing["stats"]["workers"] == 0
