"""Every public object prints something useful, and ``client.worker`` ends a worker: in plain CPython, over loopbacks.

The browser side (a real worker stopped in the middle of a sync method) is tests/browser/test_ending.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import workerlib
from workerlib import (
    Callback,
    CallTiming,
    Transfer,
    Worker,
    WorkerClosedError,
    WorkerHandle,
    WorkerService,
    diagnostics,
    server,
)
from workerlib.client import TERMINATED, Connection, Link, ServiceClient, clientClass
from workerlib.errors import RemoteError
from workerlib.pool import poolClass

from .loopbackkit import loopbackLink, settle


class Jobs(WorkerService):
    """Calls that wait until they are let go, and a callback that says how it prints in the worker."""

    async def hold(self) -> None:
        await asyncio.sleep(3600)

    def add(self, a: int, b: int) -> int:
        return a + b

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        await asyncio.sleep(3600)

    async def describeCallback(self, callback: Callable[[], Any]) -> list[str]:
        return [repr(callback), str(callback)]


def double(x: int) -> int:
    return 2 * x


@pytest.fixture
def table() -> Iterator[server.ServiceTable]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Jobs, WorkerService)
    server.table.addFunction(double)
    yield server.table
    server.table = saved


class Stops:
    """Stands in for ending a real worker: counts how often it was asked to."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


PENDING = re.escape(f"worker 'calc' {TERMINATED} while this call was pending")


def jobsClient(name: str = "jobs") -> tuple[Any, Link, Stops]:
    """A client of :class:`Jobs` on a loopback whose "worker" is ended by a :class:`Stops`."""
    link = loopbackLink(name)
    stops = Stops()
    link.stopWorker = stops
    return clientClass(Jobs, WorkerService)(Connection(link)), link, stops


# --- the worker handle --------------------------------------------------------------------------------------------


def test_client_worker_is_a_handle_that_prints_its_name_and_state(table: server.ServiceTable) -> None:
    async def main() -> None:
        client, link, _ = jobsClient("calc")
        handle = client.worker
        assert isinstance(handle, WorkerHandle)
        assert handle.name == "calc"
        assert handle.running
        assert handle.stoppedBecause is None
        assert handle.js is link.worker  # PyScript's own object (None on a loopback)
        assert repr(handle) == str(handle) == "<workerlib worker 'calc', running>"
        other = clientClass(Jobs, WorkerService)(Connection(link))
        assert other.worker is handle  # one handle per worker, whichever client gives it
        handle.terminate()
        assert not handle.running
        assert handle.stoppedBecause == TERMINATED
        assert repr(handle) == "<workerlib worker 'calc', was terminated with worker.terminate()>"

    asyncio.run(main())


def test_terminate_fails_pending_calls_and_open_streams_of_every_client(table: server.ServiceTable) -> None:
    async def main() -> None:
        client, link, stops = jobsClient("calc")
        other: Any = clientClass(Jobs, WorkerService)(Connection(link))
        pending = [asyncio.ensure_future(client.hold()), asyncio.ensure_future(other.hold())]
        items = aiter(client.count(1))  # one item, then the worker holds the stream open
        assert await anext(items) == 0
        await settle(lambda: len(link.pending) == 2)
        client.worker.terminate()
        assert stops.count == 1
        for call in pending:
            with pytest.raises(
                WorkerClosedError, match=r"worker 'calc' was terminated with worker\.terminate\(\) while"
            ):
                await call
        with pytest.raises(WorkerClosedError, match=re.escape(f"{TERMINATED} while this stream was open")):
            await anext(items)
        with pytest.raises(WorkerClosedError, match=r"cannot call Jobs\.add\(\) on worker 'calc': worker 'calc' was"):
            await client.add(1, 2)
        assert not link.pending

    asyncio.run(main())


def test_terminate_ends_the_worker_once_whatever_ends_it_next(table: server.ServiceTable) -> None:
    async def main() -> None:
        client, link, stops = jobsClient()
        client.worker.terminate()
        client.worker.terminate()
        link.terminate("was closed with the client that spawned it")  # what closing a spawned client does
        assert stops.count == 1
        assert client.worker.stoppedBecause == TERMINATED  # the first reason stays

    asyncio.run(main())


def test_a_worker_that_crashed_is_still_taken_off_the_page_when_its_client_closes(table: server.ServiceTable) -> None:
    async def main() -> None:
        _, link, stops = jobsClient()
        link.sever("stopped (terminated or crashed)")
        link.terminate("was closed with the client that spawned it")
        assert stops.count == 1  # its script element goes, so a pool can reuse the name

    asyncio.run(main())


def test_a_terminated_pool_member_is_replaced(table: server.ServiceTable) -> None:
    started: list[str] = []

    async def spawn() -> ServiceClient:
        link = loopbackLink(f"worker-{len(started) + 1}")
        started.append(link.name)
        return clientClass(Jobs, WorkerService)(Connection(link, onClose=lambda: link.terminate("was closed")))

    async def main() -> None:
        pool: Any = poolClass(Jobs, WorkerService)(2, spawn, None)
        await pool._start()
        assert repr(pool) == "<JobsPool of 2 for Jobs: workers 'worker-1', 'worker-2'>"
        pool.clients[0].worker.terminate()
        await settle(lambda: [client.workerName for client in pool.clients] == ["worker-2", "worker-3"])
        assert await pool.add(1, 2) == 3
        await pool.close()
        assert repr(pool) == "<JobsPool of 2 for Jobs: closed>"

    asyncio.run(main())


# --- what every public object prints ------------------------------------------------------------------------------


def test_a_client_says_its_worker_and_whether_calls_reach_it(table: server.ServiceTable) -> None:
    async def main() -> None:
        client, _, _ = jobsClient("calc")
        assert repr(client) == str(client) == "<JobsClient for worker 'calc'>"
        client.worker.terminate()
        assert repr(client) == "<JobsClient for worker 'calc', which was terminated with worker.terminate()>"
        closed, _, _ = jobsClient("other")
        await closed.close()
        assert repr(closed) == "<JobsClient for worker 'other', closed>"

    asyncio.run(main())


def test_a_connection_to_exported_functions_lists_them(table: server.ServiceTable) -> None:
    async def main() -> None:
        link = loopbackLink("calc")
        functions = Worker(Connection(link), ("double", "triple"))
        assert repr(functions) == str(functions) == "<Worker 'calc' exporting double, triple>"
        assert await functions.double(21) == 42
        assert functions.worker is link.handle
        functions.worker.terminate()
        assert (
            repr(functions) == "<Worker 'calc' exporting double, triple, which was terminated with worker.terminate()>"
        )
        assert repr(Worker(Connection(loopbackLink("none")), ())) == "<Worker 'none' exporting nothing>"

    asyncio.run(main())


def test_calls_streams_and_timings_say_what_they_are(table: server.ServiceTable) -> None:
    async def main() -> None:
        client, _, _ = jobsClient("calc")
        call = client.add(1, 2)
        assert repr(call) == str(call) == "<Call Jobs.add() on worker 'calc', not sent>"
        assert await call == 3
        assert repr(call) == "<Call Jobs.add() on worker 'calc', answered>"
        timing = call.timing
        assert isinstance(timing, CallTiming)
        assert repr(timing).startswith("CallTiming(argumentTransfer=")
        assert str(timing).endswith(" ms)")
        assert "execution" in str(timing)
        stream = client.count(3)
        assert repr(stream) == str(stream) == "<Stream Jobs.count() on worker 'calc', new, 0 items received>"
        assert await anext(aiter(stream)) == 0
        stream.close()
        assert repr(stream) == "<Stream Jobs.count() on worker 'calc', closed, 1 items received>"

    asyncio.run(main())


def test_a_callback_says_which_call_it_belongs_to_and_when_it_expired(table: server.ServiceTable) -> None:
    async def main() -> None:
        client, _, _ = jobsClient()
        printed, shown = await client.describeCallback(lambda: None)
        assert printed == shown
        assert re.fullmatch(r"<workerlib callback 0 of request \d+>", printed)

    asyncio.run(main())
    expired = Callback.__new__(Callback)
    expired._call = type("Ended", (), {"active": False, "ident": 7})()
    expired._index = 2
    assert repr(expired) == "<workerlib callback 2 of request 7, expired>"


def test_a_transfer_names_what_moves() -> None:
    # transfer() takes JavaScript objects only (a browser test covers them); the repr also reads plain stand-ins.
    whole = Transfer(value := bytearray(4), value)
    assert repr(whole) == str(whole) == "<Transfer: the bytearray moves>"
    view = Transfer(memoryview(bytearray(4)), bytearray(4))
    assert repr(view) == "<Transfer: memoryview, its bytearray moves>"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (WorkerClosedError("worker 'calc' was terminated"), "worker 'calc' was terminated"),
        (RemoteError("mod.Oops", "it broke", "Traceback..."), "mod.Oops: it broke"),
        (workerlib.ConnectError("no worker named 'x'"), "no worker named 'x'"),
        (workerlib.AdapterError("adapter for x.Y failed", adapter=None), "adapter for x.Y failed"),
        (workerlib.DecodeError("bad payload"), "bad payload"),
        (
            workerlib.ConfigError("the main thread's PyScript config has an [adapters] section"),
            "the main thread's PyScript config has an [adapters] section",
        ),
    ],
)
def test_errors_print_their_message(error: Exception, shown: str) -> None:
    assert str(error) == shown
    assert repr(error) == f"{type(error).__name__}({shown!r})"


def test_the_diagnostics_report_prints_as_lines() -> None:
    assert str(diagnostics) == "\n".join(diagnostics)
    assert repr(diagnostics) == repr(list(diagnostics))


def test_every_public_name_has_a_repr_that_is_not_the_default() -> None:
    # Classes and functions print as themselves; what matters is that nothing public raises when printed.
    for name in workerlib.__all__:
        value = getattr(workerlib, name)
        assert isinstance(repr(value), str), name
        assert isinstance(str(value), str), name
