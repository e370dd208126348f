"""The worker side: which services and functions this worker serves, and the sessions that run calls.

A :class:`Session` serves the frames arriving on one :class:`~workerlib.transport.Channel`. Each request runs as a
task started eagerly, so a sync method (and an ``async`` one that never waits) is done before the next frame is
looked at, in arrival order; its reply is queued at once. Replies ready when a message has been handled leave
together, as one message; a slow ``async`` method answers later, on its own, holding nobody back. A request the
main thread cancelled before it started never starts: cancelled in the same message, or marked cancelled in the
buffer a cross-origin isolated page shares with the worker (:meth:`~workerlib.transport.Channel.wasCancelled`), which
the main thread does before it interrupts the call running ahead of it.

Every failure, from a malformed payload to an exception in a service method, becomes a reply: :func:`dispatch` never
raises, so one bad call cannot stop the worker from serving the next. Nothing here touches JavaScript.

A request for a generator method (``OP_STREAM``) is answered with ``STREAM_ITEM`` frames, each sent as the generator
yields it, while the consumer has taken all but :data:`~workerlib.protocol.STREAM_AHEAD` of them (``STREAM_PULL``
frames say how many it took), then one ``STREAM_END``. A callable passed as an argument arrives as a
:class:`Callback`: calling it sends a ``CALLBACK_CALL`` frame at once and returns a future of the ``CALLBACK_REPLY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from . import codec, protocol
from ._runtime import clock
from .decorators import typechecked
from .endpoint import Endpoint, handles
from .errors import CallbackExpiredError, ProtocolError
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


type Guard = Callable[[], contextlib.AbstractContextManager[Any]]
"""Wraps the Python code of a sync call, so cancelling the call can interrupt it (``Channel.interruptible``)."""
type Streamer = Callable[[Iterator[Any] | AsyncIterator[Any], Guard], Awaitable[None]]


async def run(
    request: protocol.Request,
    lifeLock: LifeLock = _noLifeLock,
    *,
    guard: Guard = contextlib.nullcontext,
    streamer: Streamer | None = None,
    services: ServiceTable | None = None,
) -> Any:
    """Carry out one decoded request and return its result; exceptions propagate to :func:`dispatch`.

    A stream request hands the generator to ``streamer``, which sends its items, and returns ``None``. ``services``:
    the table the request is served from (this worker's :data:`table` by default).
    """
    served = services if services is not None else table
    if request.operation == protocol.OP_DESCRIBE:
        return served.describe(await lifeLock())
    if request.operation == protocol.OP_CALLBACK:
        raise ProtocolError("a worker does not take callback calls; only the main thread does")
    if request.operation == protocol.OP_FUNCTION:
        function = served.functions.get(request.target)
        if function is None:
            exported = ", ".join(sorted(served.functions)) or "nothing"
            raise ProtocolError(f"this worker exports no function {request.target!r}; it exports {exported}")
    else:
        target: protocol.ServiceTarget = request.target
        cls = served.implementation(target.qualname, target.module)
        function = served.method(served.instance(cls), target.method)
    with guard():
        result = function(*request.args, **(request.kwargs or {}))
    if request.operation == protocol.OP_STREAM:
        if not (inspect.isgenerator(result) or inspect.isasyncgen(result)):
            if inspect.iscoroutine(result):
                result.close()
            raise ProtocolError(
                f"{getattr(function, '__qualname__', function)} was called as a stream but returned "
                f"{type(result).__qualname__}, not a generator: the worker's class differs from the main thread's"
            )
        if streamer is None:
            raise ProtocolError("streams are served only by a session")
        await streamer(result, guard)
        return None
    if inspect.isawaitable(result):
        result = await result
    return result


async def dispatch(
    payload: bytes | memoryview,
    attached: Sequence[Any] = (),
    beside: protocol.Beside | None = None,
    lifeLock: LifeLock = _noLifeLock,
    buffers: Sequence[Any] = (),
    *,
    callback: Callable[[int], Any] | None = None,
    guard: Guard = contextlib.nullcontext,
    streamer: Streamer | None = None,
    joined: codec.Joined | list[Any] | Exception | None = None,
    services: ServiceTable | None = None,
) -> tuple[bytes, protocol.Beside | None]:
    """Decode a request, run it, and encode the reply: a result, or the exception that stopped it.

    ``attached`` and ``buffers`` came with the request; what of the result may travel beside the reply goes into
    ``beside`` (:class:`~workerlib.protocol.Beside`: JavaScript values, a large ``bytes`` result, the parts of a long
    list sent ahead), returned with the reply's payload (a failure carries nothing beside it: ``None``). Never raises:
    whatever goes wrong becomes a failure reply, so the worker keeps serving. ``callback``, ``guard`` and
    ``streamer``: see :func:`protocol.decodeRequest` and :func:`run`. ``joined``: what the parts sent ahead of the
    request built.
    """
    now = clock()
    received = started = now()
    try:
        request = await protocol.decodeRequest(payload, attached, buffers, callback, joined)
        started = now()
        result = await run(request, lifeLock, guard=guard, streamer=streamer, services=services)
    except BaseException as error:  # SystemExit from a method included: the worker must stay up
        return await _failureReply(error, protocol.Stamps(received, started, now())), None
    stamps = protocol.Stamps(received, started, now())
    try:
        return await protocol.encodeReply(True, result, stamps, beside), beside
    except Exception as error:  # an unsendable result, or an adapter that failed to encode it
        return await _failureReply(error, stamps), None


async def _failureReply(error: BaseException, stamps: protocol.Stamps | None) -> bytes:
    try:
        return await protocol.encodeReply(False, await RemoteFailure.capture(error), stamps)
    except Exception:  # describing the failure failed too (a __str__ that raises...): still an answer
        log.exception("could not describe a failure; sending a fixed one instead")
        return protocol.fallbackFailure()


class Callback:
    """What a callable passed as an argument becomes in the worker: calling it calls the original on the main thread.

    ``callback(*args, **kwargs)`` sends the call at once (a sync method's loop need not yield for it to leave) and
    returns an ``asyncio.Future`` of the callable's result on the main thread: ``await`` it for the result, or the
    exception the callable raised; or leave it for fire-and-forget (progress reports arrive in the order they were
    made). Arguments and results cross like any value. Usable until the call that received it ends; calling it later
    raises :class:`~workerlib.CallbackExpiredError`.
    """

    __slots__ = ("_index", "_scope")

    def __init__(self, scope: _CallScope, index: int) -> None:
        self._scope = scope
        self._index = index

    def __call__(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        scope = self._scope
        if not scope.active:
            raise CallbackExpiredError(
                f"{self!r} was called after the call that received it ended; a callback can be called only while "
                f"that call runs (await what the method starts before returning, or stream instead)"
            )
        return scope.session.callBack(scope.ident, self._index, args, kwargs)

    def __repr__(self) -> str:
        return f"<workerlib callback {self._index} of request {self._scope.ident}>"


class _CallScope:
    """One request being served: the callbacks it received live as long as it runs."""

    def __init__(self, session: Session, ident: int) -> None:
        self.session = session
        self.ident = ident
        self.active = True
        self.streamed = False

    def callback(self, index: int) -> Callback:
        return Callback(self, index)


STREAM_TURN = 0.002
"""Seconds a stream may keep the worker's event loop before giving it a turn: the items it sent meanwhile leave
together, and other calls, cancels and pulls get in."""


class _Credit:
    """How many more items a stream may send before its consumer has to take some."""

    def __init__(self) -> None:
        self.left = protocol.STREAM_AHEAD
        self.more = asyncio.Event()

    def grant(self, count: int) -> None:
        self.left += count
        self.more.set()

    async def spend(self) -> None:
        while self.left <= 0:
            self.more.clear()
            await self.more.wait()
        self.left -= 1


class Session(Endpoint):
    """Serves the requests that arrive on one channel: see the module's docstring. Each kind of frame the main thread
    sends is handled by the method marked for it (see :mod:`workerlib.endpoint`)."""

    def __init__(self, channel: Channel, lifeLock: LifeLock = _noLifeLock, table: ServiceTable | None = None) -> None:
        super().__init__(channel, "the main thread", log)
        self.lifeLock = lifeLock
        self.services = table
        """The table this session serves from; None: the worker's own :data:`table` (what defining a class fills)."""
        self.running: dict[int, asyncio.Task[None]] = {}
        self.cancelled: set[int] = set()
        self.credits: dict[int, _Credit] = {}
        self.partsGoing: set[int] = set()
        """Requests whose reply's parts went ahead and whose reply has not been sent yet (``MAX_OPEN_PART_IDS``)."""
        self.awaiting: dict[int, asyncio.Future[Any]] = {}
        """Callback calls sent to the main thread, by their id, until their reply arrives."""
        self._callbackIds = itertools.count(1)
        self.skipped = 0
        """Requests never started because the main thread had cancelled them (see :meth:`_request`)."""
        self.dropped: set[int] = set()
        """The requests cancelled in the message being handled: they never start (the cancels come after them)."""
        channel.onMalformed = self._malformed
        channel.onSendFailed = self._sendFailed

    def received(self, frames: list[Frame]) -> None:
        """Start every request of one message in order; send the replies that are ready as one message."""
        self.dropped = {frame.id for frame in frames if frame.kind == FrameKind.CANCEL}
        super().received(frames)

    @handles(FrameKind.REQUEST)
    def _request(self, frame: Frame) -> None:
        self.parts.claim(frame)
        # A request the main thread cancelled while the worker ran the ones before it never starts: the mark in shared
        # memory is there before the running one is interrupted (Channel.interrupt).
        if frame.id in self.dropped or self.channel.wasCancelled(frame.id):
            self.skipped += 1
            return
        self._start(frame, asyncio.get_event_loop())

    @handles(FrameKind.PART)
    def _part(self, frame: Frame) -> None:
        if frame.id in self.running:  # its request started without it: nothing will claim it
            self.refusals.refuse(ProtocolError(f"a part came for request {frame.id} after the request"))
            return
        refused = self.parts.add(frame)
        if refused is not None:
            self.refusals.refuse(refused)

    @handles(FrameKind.CANCEL)
    def _cancel(self, frame: Frame) -> None:
        self.parts.pop(frame.id, None)  # a request whose encoding failed after some parts went
        self.channel.wasCancelled(frame.id)  # its mark, if the request started before the mark was made
        running = self.running.get(frame.id)
        if running is not None:
            self.cancelled.add(frame.id)
            running.cancel()

    @handles(FrameKind.STREAM_PULL)
    def _pull(self, frame: Frame) -> None:
        credit = self.credits.get(frame.id)
        if credit is not None:
            try:
                credit.grant(protocol.decodeCount(frame.payload))
            except ProtocolError as malformed:
                self.refusals.refuse(malformed)

    @handles(FrameKind.CALLBACK_REPLY)
    def _callbackReply(self, frame: Frame) -> None:
        waiting = self.awaiting.pop(frame.id, None)
        if waiting is not None:
            asyncio.Task(self._settle(waiting, frame), loop=asyncio.get_event_loop(), eager_start=True)

    @handles(FrameKind.REPLY)
    def _reply(self, frame: Frame) -> None:
        # Answers are never answered: a worker that asked nothing drops them, so no two sides echo forever.
        if frame.id == 0:  # the main thread's answer to a message of ours it could not read
            log.warning("the main thread could not read a message this worker sent; its console says why")
        else:
            self.refusals.refuse(ProtocolError(f"a REPLY frame (id {frame.id}) came, which nobody here awaits"))

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
            if frame.kind in (FrameKind.REPLY, FrameKind.STREAM_ITEM, FrameKind.STREAM_END):
                asyncio.Task(self._fail(frame.id, failure), loop=loop, eager_start=True)
            elif frame.kind == FrameKind.CALLBACK_CALL:
                waiting = self.awaiting.pop(frame.id, None)
                if waiting is not None and not waiting.done():
                    waiting.set_exception(failure)

    def _malformed(self, error: ProtocolError, frames: list[Frame]) -> None:
        # Every frame that could be read gets the error as its reply, described once for the whole message. Without
        # a readable header there is no id to answer; id 0 is never a call's, so the main thread logs it.
        self.refusals.refuse(error)
        idents = [frame.id for frame in frames if frame.kind != FrameKind.CANCEL] or [0]
        asyncio.Task(self._failAll(idents, error), loop=asyncio.get_event_loop(), eager_start=True)

    async def _answer(self, frame: Frame) -> None:
        scope = _CallScope(self, frame.id)
        ident = frame.id

        def guard() -> contextlib.AbstractContextManager[Any]:
            return self.channel.interruptible(ident)

        async def streamer(items: Iterator[Any] | AsyncIterator[Any], guard: Guard) -> None:
            scope.streamed = True
            await self._stream(ident, items, guard)

        def sendPart(part: bytes) -> bool:
            if ident in self.cancelled or self.channel.closed:
                return False
            if ident not in self.partsGoing:
                if len(self.partsGoing) >= protocol.MAX_OPEN_PART_IDS:
                    return False  # the main thread would refuse the part: the result goes whole
                self.partsGoing.add(ident)
            # The flush sends the replies queued before this part with it, ahead of it: their parts are then claimed.
            self._send(Frame(FrameKind.PART, ident, part))
            self.channel.flush()
            return True

        try:
            reply, beside = await dispatch(
                frame.payload,
                frame.attached,
                self.channel.beside(sendPart=sendPart),
                self.lifeLock,
                frame.buffers,
                callback=scope.callback,
                guard=guard,
                streamer=streamer,
                joined=frame.joined,
                services=self.services,
            )
        finally:
            scope.active = False
            self.partsGoing.discard(ident)  # the reply is queued below, so it leaves before any later part
            self.parts.pop(ident, None)  # parts that came for it while it ran: nothing will claim them
        if ident in self.cancelled:  # the caller gave up: nobody waits for this reply
            self.cancelled.discard(ident)
            return
        kind = FrameKind.STREAM_END if scope.streamed else FrameKind.REPLY
        self._send(protocol.outgoing(kind, ident, reply, beside))

    async def _stream(self, ident: int, items: Iterator[Any] | AsyncIterator[Any], guard: Guard) -> None:
        """Send what a generator yields while the consumer keeps up; close the generator however this ends."""
        credit = self.credits[ident] = _Credit()
        lastTurn = time.perf_counter()
        try:
            while True:
                if credit.left <= 0 or time.perf_counter() - lastTurn >= STREAM_TURN:
                    # A turn of the loop: the items sent so far leave as one message, and a cancel or a pull that
                    # arrived meanwhile is seen. Fast generators batch; a slow one's items leave one by one.
                    await asyncio.sleep(0)
                    lastTurn = time.perf_counter()
                await credit.spend()  # before asking for the item: the generator runs only as far ahead as allowed
                if inspect.isasyncgen(items):
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        break
                else:
                    assert isinstance(items, Iterator)
                    with guard():
                        try:
                            item = next(items)
                        except StopIteration:
                            break
                await self._sendItem(ident, item)
        finally:
            del self.credits[ident]
            await _closeGenerator(items)

    async def _sendItem(self, ident: int, item: Any) -> None:
        beside = self.channel.beside()
        payload = await protocol.encodeReply(True, item, None, beside)
        self._send(protocol.outgoing(FrameKind.STREAM_ITEM, ident, payload, beside))

    def callBack(self, ident: int, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        """Send a callback call to the main thread now; the future settles with the callable's outcome."""
        request = protocol.Request(protocol.OP_CALLBACK, (ident, index), args, kwargs)
        beside = self.channel.beside()
        # Encoded here and now (a sync method calling back does not give the loop a turn); an async adapter can't.
        payload = codec.runNow(protocol.encodeRequest(request, beside), "a callback's arguments")
        future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
        # Fire-and-forget is allowed: a failure nobody awaits is not reported as "never retrieved".
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        callId = next(self._callbackIds)
        self.awaiting[callId] = future
        self._send(protocol.outgoing(FrameKind.CALLBACK_CALL, callId, payload, beside))
        self.channel.flush()
        return future

    async def _settle(self, waiting: asyncio.Future[Any], frame: Frame) -> None:
        try:
            ok, value, _ = await protocol.decodeReply(frame.payload, frame.attached, frame.buffers)
            outcome = value if ok else await value.rebuild("a callback on the main thread")
        except Exception as error:  # a malformed reply: the awaiting method gets that instead
            ok, outcome = False, error
        if waiting.done():
            return
        if ok:
            waiting.set_result(outcome)
        else:
            waiting.set_exception(outcome)

    async def _fail(self, ident: int, error: ProtocolError) -> None:
        self._send(Frame(FrameKind.REPLY, ident, await _failureReply(error, None)))

    async def _failAll(self, idents: list[int], error: ProtocolError) -> None:
        payload = await _failureReply(error, None)
        for ident in idents:
            self._send(Frame(FrameKind.REPLY, ident, payload))
        if not self.channel.closed:
            self.channel.flush()

    def _send(self, frame: Frame) -> None:
        if not self.channel.closed:
            self.channel.send(frame)


async def _closeGenerator(items: Iterator[Any] | AsyncIterator[Any]) -> None:
    """Stop a generator so its ``finally`` blocks run now, not whenever it is collected."""
    try:
        if inspect.isasyncgen(items):
            await items.aclose()
        elif inspect.isgenerator(items):
            items.close()
    except Exception:  # its finally raised: the stream's own outcome matters more
        log.exception("closing a stream's generator raised")
