"""The worker side: which services and functions this worker serves, and the sessions that run calls.

A :class:`Session` serves the frames arriving on one :class:`~workerlib.transport.Channel`. Each request runs as a
task started eagerly, so a sync method (and an ``async`` one that never waits) is done before the next frame is
looked at, in arrival order; its reply is queued at once. Replies ready when a message has been handled leave
together, as one message; a slow ``async`` method answers later, on its own, holding nobody back.

Every failure, from a malformed payload to an exception in a service method, becomes a reply: :func:`dispatch` never
raises, so one bad call cannot stop the worker from serving the next. Nothing here touches JavaScript.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import codec, protocol
from ._runtime import clock
from .decorators import typechecked
from .errors import ProtocolError
from .methods import publicMethods
from .protocol import Frame, FrameKind, RemoteFailure
from .transport import Channel

log = logging.getLogger("workerlib.server")


class ServiceTable:
    """Service classes defined in this worker, their lazily made instances, and exported functions.

    ``stop`` is the base class every service derives from (``WorkerService``); its own members are never served.
    """

    def __init__(self, stop: type = object) -> None:
        self.stop = stop
        self.classes: list[type] = []
        self.instances: dict[type, object] = {}
        self.functions: dict[str, Callable[..., Any]] = {}
        self._implementations: dict[tuple[str, str], type] = {}
        self._modules: set[str] = set()

    def addClass(self, cls: type, stop: type) -> None:
        self.stop = stop
        self.classes.append(cls)
        self._implementations.clear()
        self._modules = {base.__module__ for served in self.classes for base in self._serviceBases(served)}

    def addFunction(self, function: Callable[..., Any]) -> None:
        name = getattr(function, "__name__", None)
        if not callable(function) or not isinstance(name, str):
            raise TypeError(f"export() takes functions, got {function!r}")
        self.functions[name] = function

    def describe(self, lifeLock: str | None = None) -> protocol.Description:
        return protocol.Description(
            services=tuple(
                (cls.__module__, cls.__qualname__, tuple(base.__qualname__ for base in self._serviceBases(cls)))
                for cls in self.classes
            ),
            functions=tuple(self.functions),
            lifeLock=lifeLock,
        )

    def implementation(self, qualname: str, module: str) -> type:
        """The class that serves requests for ``qualname``: the one defined class implementing it and not subclassed.

        ``module`` breaks ties between same-named classes; it may differ from this worker's name for the module
        (a worker's own file runs as ``__main__`` here but is imported under its file name on the main thread).
        """
        # Remembered under the module only when a served class names it: requests naming other modules (the main
        # thread's name for a worker's file, or junk) share one entry, so the table stays as small as what is served.
        key = (qualname, module if module in self._modules else "")
        found = self._implementations.get(key)
        if found is None:
            found = self._implementations[key] = self._findImplementation(qualname, module)  # raises for junk names
        return found

    def _findImplementation(self, qualname: str, module: str) -> type:
        implementing = [cls for cls in self.classes if any(b.__qualname__ == qualname for b in self._serviceBases(cls))]
        exact = [
            cls
            for cls in implementing
            if any(b.__qualname__ == qualname and b.__module__ == module for b in self._serviceBases(cls))
        ]
        candidates = exact or implementing
        leaves = [
            cls for cls in candidates if not any(other is not cls and issubclass(other, cls) for other in candidates)
        ]
        if not leaves:
            served = ", ".join(sorted({cls.__qualname__ for cls in self.classes})) or "no services"
            raise ProtocolError(f"this worker does not serve {qualname!r}; it serves {served}")
        if len(leaves) > 1:
            names = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in leaves)
            raise ProtocolError(
                f"{qualname!r} has several implementations in this worker ({names}); connect to one "
                f"of them by its own class"
            )
        return leaves[0]

    def _serviceBases(self, cls: type) -> list[type]:
        return [base for base in cls.__mro__ if issubclass(base, self.stop) and base is not self.stop]

    def instance(self, cls: type) -> object:
        if cls not in self.instances:
            instance = cls()
            if getattr(cls, "_typechecked", False):
                # Shadow each public method on the instance with its checked version, made once.
                for name, function in publicMethods(cls, self.stop).items():
                    vars(instance)[name] = typechecked(function).__get__(instance, cls)
            self.instances[cls] = instance
        return self.instances[cls]

    def method(self, instance: object, name: str) -> Callable[..., Any]:
        """The bound public method ``name`` of a service instance, or :class:`ProtocolError` if it is not one."""
        cls: type = type(instance)
        methods = publicMethods(cls, self.stop)
        if name not in methods:
            served = ", ".join(methods) or "none"
            raise ProtocolError(f"service {cls.__qualname__} has no public method {name!r} (public methods: {served})")
        return getattr(instance, name)  # type: ignore[no-any-return]


table = ServiceTable()

type LifeLock = Callable[[], Awaitable[str | None]]


async def _noLifeLock() -> str | None:
    return None


async def run(request: protocol.Request, lifeLock: LifeLock = _noLifeLock) -> Any:
    """Carry out one decoded request and return its result; exceptions propagate to :func:`dispatch`."""
    if request.operation == protocol.OP_DESCRIBE:
        return table.describe(await lifeLock())
    if request.operation == protocol.OP_FUNCTION:
        function = table.functions.get(request.target)
        if function is None:
            exported = ", ".join(sorted(table.functions)) or "nothing"
            raise ProtocolError(f"this worker exports no function {request.target!r}; it exports {exported}")
    else:
        target: protocol.ServiceTarget = request.target
        cls = table.implementation(target.qualname, target.module)
        function = table.method(table.instance(cls), target.method)
    result = function(*request.args, **(request.kwargs or {}))
    if inspect.isawaitable(result):
        result = await result
    return result


async def dispatch(
    payload: bytes | memoryview,
    attached: Sequence[Any] = (),
    attachments: codec.Attachments | None = None,
    lifeLock: LifeLock = _noLifeLock,
    buffers: Sequence[Any] = (),
) -> tuple[bytes, codec.Attachments | None, list[Any]]:
    """Decode a request, run it, and encode the reply: a result, or the exception that stopped it.

    ``attached`` and ``buffers`` came with the request; values of the result that ``attachments`` accepts travel
    beside the reply, as does a large ``bytes`` result: both are returned with the reply's payload (a failure carries
    neither). Never raises: whatever goes wrong becomes a failure reply, so the worker keeps serving.
    """
    now = clock()
    received = started = now()
    try:
        request = await protocol.decodeRequest(payload, attached, buffers)
        started = now()
        result = await run(request, lifeLock)
    except BaseException as error:  # SystemExit from a method included: the worker must stay up
        return await _failureReply(error, protocol.Stamps(received, started, now())), None, []
    stamps = protocol.Stamps(received, started, now())
    replyBuffers: list[Any] = []
    try:
        return await protocol.encodeReply(True, result, stamps, attachments, replyBuffers), attachments, replyBuffers
    except Exception as error:  # an unsendable result, or an adapter that failed to encode it
        return await _failureReply(error, stamps), None, []


async def _failureReply(error: BaseException, stamps: protocol.Stamps | None) -> bytes:
    try:
        return await protocol.encodeReply(False, await RemoteFailure.capture(error), stamps)
    except Exception:  # describing the failure failed too (a __str__ that raises...): still an answer
        log.exception("could not describe a failure; sending a fixed one instead")
        return protocol.fallbackFailure()


class Session:
    """Serves the requests that arrive on one channel: see the module's docstring."""

    def __init__(self, channel: Channel, lifeLock: LifeLock = _noLifeLock) -> None:
        self.channel = channel
        self.lifeLock = lifeLock
        self.running: dict[int, asyncio.Task[None]] = {}
        self.cancelled: set[int] = set()
        channel.onFrames = self.received
        channel.onMalformed = self._malformed
        channel.onSendFailed = self._sendFailed

    def received(self, frames: list[Frame]) -> None:
        """Start every request of one message in order; send the replies that are ready as one message."""
        loop = asyncio.get_event_loop()
        for frame in frames:
            if frame.kind == FrameKind.REQUEST:
                self._start(frame, loop)
            elif frame.kind == FrameKind.CANCEL:
                running = self.running.get(frame.id)
                if running is not None:
                    self.cancelled.add(frame.id)
                    running.cancel()
            elif frame.kind in (FrameKind.REPLY, FrameKind.CALLBACK_REPLY):
                # Answers are never answered: a worker that asked nothing drops them, so no two sides echo forever.
                log.warning(
                    "dropping a frame of %s (id %d): nobody here waits for it", protocol.kindName(frame.kind), frame.id
                )
            else:
                error = ProtocolError(
                    f"this worker does not handle a frame of {protocol.kindName(frame.kind)} "
                    f"(protocol version {protocol.VERSION})"
                )
                asyncio.Task(self._fail(frame.id, error), loop=loop, eager_start=True)
        self.channel.flush()

    def _start(self, frame: Frame, loop: asyncio.AbstractEventLoop) -> None:
        task = asyncio.Task(self._answer(frame), loop=loop, eager_start=True)
        if not task.done():
            self.running[frame.id] = task
            task.add_done_callback(lambda _: self.running.pop(frame.id, None))

    def _sendFailed(self, frames: list[Frame], error: Exception) -> None:
        # The browser refused a batch of replies (a value structured clone cannot carry slipped through): each
        # caller gets that failure instead, so none waits for ever.
        # The channel already sent again the frames it did not blame.
        failure = ProtocolError(f"the browser refused to send the reply: {type(error).__name__}: {error}")
        loop = asyncio.get_event_loop()
        for frame in frames:
            if frame.kind == FrameKind.REPLY:
                asyncio.Task(self._fail(frame.id, failure), loop=loop, eager_start=True)

    def _malformed(self, error: ProtocolError, frames: list[Frame]) -> None:
        # Every frame that could be read gets the error as its reply. Without a readable header there is no id to
        # answer; id 0 is never a call's, so the main thread logs it.
        loop = asyncio.get_event_loop()
        for ident in [frame.id for frame in frames if frame.kind != FrameKind.CANCEL] or [0]:
            asyncio.Task(self._fail(ident, error), loop=loop, eager_start=True)
        self.channel.flush()

    async def _answer(self, frame: Frame) -> None:
        reply, attachments, buffers = await dispatch(
            frame.payload, frame.attached, self.channel.attachments(), self.lifeLock, frame.buffers
        )
        if frame.id in self.cancelled:  # the caller gave up: nobody waits for this reply
            self.cancelled.discard(frame.id)
            return
        values = getattr(attachments, "values", ())
        moved = getattr(attachments, "transfer", ())
        self._send(Frame(FrameKind.REPLY, frame.id, reply, values, moved, buffers))

    async def _fail(self, ident: int, error: ProtocolError) -> None:
        self._send(Frame(FrameKind.REPLY, ident, await _failureReply(error, None)))

    def _send(self, frame: Frame) -> None:
        if not self.channel.closed:
            self.channel.send(frame)
