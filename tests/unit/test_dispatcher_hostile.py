"""The worker's serving of a call and the failure path under pathological methods and hostile requests (issue 12),
over a loopback.

Each test here failed before the change it names: a worker's ``SystemExit`` re-raised on the main thread, user
exceptions with their own ``__init__`` arriving as ``RemoteError``, a 100,000-deep return value or exception argument
(which kills Pyodide's interpreter in a browser worker), junk module names growing the table of implementations, a
failure that could not be described leaving the caller waiting for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from workerlib import RemoteError, UnsendableError, WorkerService, codec, nesting, protocol, server
from workerlib.client import Connection, Link, clientClass
from workerlib.protocol import FrameKind

from .loopbackkit import loopbackLink


class ImageTooSmallError(Exception):
    """The common pattern: ``__init__`` takes other arguments than it passes on."""

    def __init__(self, image: str, minimum: int) -> None:
        super().__init__(f"image {image} is under {minimum} pixels")
        self.image = image
        self.minimum = minimum


class QuotaError(Exception):
    def __init__(self, *, user: str, limit: int) -> None:
        super().__init__(f"{user} is over {limit}")
        self.user, self.limit = user, limit


def deepList(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


class Pathological(WorkerService):
    def deep(self, depth: int) -> list[Any]:
        return deepList(depth)

    def raiseDeep(self) -> None:
        raise ValueError(deepList(100_000))

    def raiseBase(self, kind: str) -> None:
        raise {"exit": SystemExit(3), "interrupt": KeyboardInterrupt(), "generator": GeneratorExit()}[kind]

    async def raiseBaseLater(self) -> None:
        await asyncio.sleep(0)
        raise SystemExit(4)

    def raiseImage(self) -> None:
        raise ImageTooSmallError("cat.png", 64)

    def raiseQuota(self) -> None:
        raise QuotaError(user="ann", limit=5)

    def ping(self) -> str:
        return "pong"


@pytest.fixture
def table() -> Iterator[server.ServiceTable]:
    saved = server.table
    server.table = server.ServiceTable()
    server.table.addClass(Pathological, WorkerService)
    yield server.table
    server.table = saved


def client() -> Any:
    return clientClass(Pathological, WorkerService)(Connection(loopbackLink()))


async def answer(link: Link, method: str, module: str = __name__) -> tuple[bool, Any]:
    """What the session at the other end of ``link`` answers a request for ``Pathological.method`` naming
    ``module``, sent as it is: ``(ok, value)``."""
    target = protocol.ServiceTarget("Pathological", module, method)
    payload = await protocol.encodeRequest(protocol.Request(protocol.OP_CALL, target, (), {}))
    frame = await link.request(FrameKind.REQUEST, payload, f"a request naming {module!r}", timeout=5)
    ok, value, _ = await protocol.decodeReply(frame.payload, frame.attached, frame.buffers)
    return ok, value


def test_a_value_at_the_nesting_limit_crosses_and_one_deeper_fails_in_the_worker(table: server.ServiceTable) -> None:
    worker = client()
    assert nesting.depthOf(asyncio.run(worker.deep(codec.NESTING_LIMIT))) == codec.NESTING_LIMIT
    with pytest.raises(UnsendableError, match=r"return value\[0\]\[0\].*nests deeper than .*NESTING_LIMIT"):
        asyncio.run(worker.deep(100_000))
    assert asyncio.run(worker.ping()) == "pong"


def test_an_exception_holding_a_too_deep_value_still_comes_back(table: server.ServiceTable) -> None:
    worker = client()
    with pytest.raises(RemoteError, match="nest deeper than NESTING_LIMIT") as raised:
        asyncio.run(worker.raiseDeep())
    assert raised.value.remoteType == "builtins.ValueError"
    assert "in raiseDeep" in raised.value.remoteTraceback
    assert asyncio.run(worker.ping()) == "pong"


@pytest.mark.parametrize(
    ("kind", "name"),
    [("exit", "SystemExit"), ("interrupt", "KeyboardInterrupt"), ("generator", "GeneratorExit")],
)
def test_a_base_exception_from_a_method_arrives_as_remote_error(
    table: server.ServiceTable, kind: str, name: str
) -> None:
    worker = client()
    with pytest.raises(RemoteError) as raised:
        asyncio.run(worker.raiseBase(kind))
    assert raised.value.remoteType == f"builtins.{name}"
    assert asyncio.run(worker.ping()) == "pong"


def test_an_async_method_raising_system_exit_arrives_as_remote_error(table: server.ServiceTable) -> None:
    with pytest.raises(RemoteError, match=r"builtins\.SystemExit: 4"):
        asyncio.run(client().raiseBaseLater())


def test_user_exceptions_with_their_own_init_arrive_as_themselves(table: server.ServiceTable) -> None:
    worker = client()
    with pytest.raises(ImageTooSmallError) as image:
        asyncio.run(worker.raiseImage())
    assert (image.value.image, image.value.minimum) == ("cat.png", 64)
    assert image.value.args == ("image cat.png is under 64 pixels",)
    with pytest.raises(QuotaError) as quota:
        asyncio.run(worker.raiseQuota())
    assert (quota.value.user, quota.value.limit, str(quota.value)) == ("ann", 5, "ann is over 5")


def test_requests_naming_junk_modules_do_not_grow_the_table(table: server.ServiceTable) -> None:
    async def main() -> None:
        link = loopbackLink()
        assert await answer(link, "ping") == (True, "pong")
        assert await answer(link, "ping", "the main thread's name for the worker file") == (True, "pong")
        sizes = len(table._implementations), len(table._bound)
        for number in range(500):
            assert await answer(link, "ping", f"junk{number}") == (True, "pong")
        assert (len(table._implementations), len(table._bound)) == sizes

    asyncio.run(main())


def test_the_worker_answers_when_describing_a_failure_fails(
    table: server.ServiceTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(cls: Any, error: BaseException, depth: int = 0) -> Any:
        raise RuntimeError("describing failed")

    async def main() -> None:
        link = loopbackLink()
        for method in ("raiseImage", "raiseBaseLater"):  # a sync and an async method
            ok, failure = await answer(link, method)
            assert ok is False
            assert failure.typeName == "workerlib.errors.ProtocolError"
            assert "describing its failure failed too" in failure.message
        assert await answer(link, "ping") == (True, "pong")  # and it serves on

    monkeypatch.setattr(protocol.RemoteFailure, "capture", classmethod(broken))
    asyncio.run(main())


def test_a_crafted_plain_payload_nested_past_the_limit_is_refused_and_freed_safely() -> None:
    # 100,000 empty lists, each appended into the one before: iterative to build, and freeing it recursively would
    # overflow a worker's stack, so the decoder empties it before refusing it.
    depth = 100_000
    payload = b"\x80\x05" + b"]" * depth + b"a" * (depth - 1) + b"."
    with pytest.raises(codec.DecodeError, match="deeper than NESTING_LIMIT"):
        codec.decode(payload)
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    nesting.dismantle(nested)
    assert nested == []
