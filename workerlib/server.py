"""The worker side: which services and functions this worker serves, and the sessions that run calls.

A :class:`Session` serves the frames arriving on one :class:`~workerlib.channel.Channel`, from the
:class:`ServiceTable` it was given. Each request is one :class:`ServedCall`, run as a task started eagerly, so a sync
method (and an ``async`` one that never waits) is done before the next frame is looked at, in arrival order; its
reply is queued at once. Replies ready when a message has been handled leave together, as one message; a slow
``async`` method answers later, on its own, holding nobody back. A request the main thread cancelled before it
started never starts: cancelled in the same message, or marked cancelled in the buffer a cross-origin isolated page
shares with the worker (:meth:`~workerlib.channel.Channel.wasCancelled`), which the main thread does before it
interrupts the call running ahead of it.

Every failure, from a malformed payload to an exception in a service method, becomes a reply:
:meth:`ServedCall.answer` never raises, so one bad call cannot stop the worker from serving the next. Nothing here
touches JavaScript.

A request for a generator method (``OP_STREAM``) is answered with ``STREAM_ITEM`` frames, each sent as the generator
yields it, while the consumer has taken all but :data:`~workerlib.protocol.STREAM_AHEAD` of them (``STREAM_PULL``
frames say how many it took), then one ``STREAM_END``. A callable passed as an argument arrives as a
:class:`Callback`: calling it sends a ``CALLBACK_CALL`` frame at once and returns a future of the ``CALLBACK_REPLY``.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from types import CoroutineType, NoneType
from typing import Any

from . import codec, protocol
from ._runtime import clock, newFuture
from .channel import Channel
from .decorators import typechecked
from .endpoint import Endpoint, handles
from .errors import CallbackExpiredError, DecodeError, ProtocolError
from .methods import publicMethods
from .protocol import Frame, FrameKind, RemoteFailure

log = logging.getLogger("workerlib.server")


class ServiceTable:
    """Service classes defined in this worker, their lazily made instances, and exported functions.

    ``base`` is the base class every service derives from (``WorkerService``); its own members are never served.
    """

    def __init__(self, base: type = object) -> None:
        self.base = base
        self.classes: list[type] = []
        self.instances: dict[type, object] = {}
        self.functions: dict[str, Callable[..., Any]] = {}
        self._implementations: dict[tuple[str, str], type] = {}
        self._bound: dict[tuple[str, str, str], Callable[..., Any]] = {}
        self._modules: set[str] = set()

    def addClass(self, cls: type, base: type) -> None:
        self.base = base
        self.classes.append(cls)
        self._implementations.clear()
        self._bound.clear()
        self._modules = {base.__module__ for served in self.classes for base in self._serviceBases(served)}

    def addFunction(self, function: Callable[..., Any], name: str | None = None) -> None:
        """Export ``function`` under ``name``, by default its ``__name__``."""
        if name is None:
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
        return [parent for parent in cls.__mro__ if issubclass(parent, self.base) and parent is not self.base]

    def instance(self, cls: type) -> object:
        if cls not in self.instances:
            instance = cls()
            if getattr(cls, "_typechecked", False):
                # Shadow each public method on the instance with its checked version, made once.
                for name, function in publicMethods(cls, self.base).items():
                    vars(instance)[name] = typechecked(function).__get__(instance, cls)
            self.instances[cls] = instance
        return self.instances[cls]

    def method(self, instance: object, name: str) -> Callable[..., Any]:
        """The bound public method ``name`` of a service instance, or :class:`ProtocolError` if it is not one."""
        cls: type = type(instance)
        methods = publicMethods(cls, self.base)
        if name not in methods:
            served = ", ".join(methods) or "none"
            raise ProtocolError(f"service {cls.__qualname__} has no public method {name!r} (public methods: {served})")
        return getattr(instance, name)  # type: ignore[no-any-return]

    def target(self, target: protocol.ServiceTarget) -> Callable[..., Any]:
        """The bound method that serves calls of ``target``: the public method of the instance of the class
        implementing it (:meth:`implementation`, :meth:`instance`, :meth:`method`), or :class:`ProtocolError`.

        Found on the first call and remembered, as :meth:`implementation` remembers classes, so every later call is
        one look-up: classes are complete once defined, and an instance's methods are bound when it is made.
        """
        module = target.module
        # Keyed as implementation() keys classes: requests naming modules nothing served is defined in share an entry,
        # so junk names cannot grow the table (a failed look-up raises and is not remembered).
        key = (target.qualname, module if module in self._modules else "", target.method)
        found = self._bound.get(key)
        if found is None:
            cls = self.implementation(target.qualname, module)
            found = self._bound[key] = self.method(self.instance(cls), target.method)
        return found


table = ServiceTable()
"""This worker's own services: what defining a service class and ``export`` fill, and what a :class:`Session` serves
unless it is given another table."""

type LifeLock = Callable[[], Awaitable[str | None]]


async def _noLifeLock() -> str | None:
    return None


_NEVER_AWAITABLE = frozenset({NoneType, bool, int, float, str, bytes, tuple, list, dict})
"""Exact types of results that are never awaitable: the common results skip the look-ups of ``inspect.isawaitable``."""

_NOTHING_BESIDE = frozenset({NoneType, bool, int, float, str})
"""Exact types of results of which nothing travels beside the payload (no JavaScript value, buffer or list sent
ahead), so their reply needs no :class:`~workerlib.protocol.Beside`."""


def _plainRequest(frame: Frame) -> protocol.Request | None:
    """The request of ``frame`` if it is plain (:func:`~workerlib.protocol.decodePlainRequest`), else ``None``: also
    when it is malformed, for the full decoder to say why."""
    try:
        return protocol.decodePlainRequest(frame)
    except (DecodeError, ProtocolError):
        return None


class ServedCall:
    """One request being served: made by the :class:`Session` for each ``REQUEST`` frame it starts, and alive while
    the call runs.

    It holds what the call needs (its session, its id, its frame: payload, attached values, buffers, the list its
    parts built) and does what the call does: :meth:`answer` decodes the request, runs it, encodes the reply and
    sends it. The callbacks the request passes (:meth:`callback`), the parts its reply sends ahead (:meth:`sendPart`),
    the stream a generator method feeds (:meth:`stream`) and the marking of its sync code as interruptible
    (:meth:`guard`) all refer to it: the callbacks work while it is :attr:`active`, and expire when it ends.
    """

    __slots__ = ("active", "frame", "ident", "session", "streamed")

    def __init__(self, session: Session, frame: Frame) -> None:
        self.session = session
        self.frame = frame
        self.ident = frame.id
        self.active = True
        """Whether the call still runs: its callbacks can be called until it ends."""
        self.streamed = False
        """Whether a generator method's stream began: the call then ends with ``STREAM_END``, not ``REPLY``."""

    def guard(self) -> AbstractContextManager[Any]:
        """Wraps sync Python code run for this call (the method, each ``next()`` of a sync generator), so cancelling
        the call can interrupt it (``Channel.interruptible``)."""
        return self.session.channel.interruptible(self.ident)

    def callback(self, index: int) -> Callback:
        """The stand-in for the callable the request passed at ``index`` (the decoder calls this for each)."""
        return Callback(self, index)

    def sendPart(self, part: bytes) -> bool:
        """Send one part of the reply's long list now, ahead of the reply; whether it went (see
        :data:`~workerlib.protocol.PartSender`)."""
        session, ident = self.session, self.ident
        if ident in session.cancelled or session.channel.closed:
            return False
        if ident not in session.partsGoing:
            if len(session.partsGoing) >= protocol.MAX_OPEN_PART_IDS:
                return False  # the main thread would refuse the part: the result goes whole
            session.partsGoing.add(ident)
        # The flush sends the replies queued before this part with it, ahead of it: their parts are then claimed.
        session.channel.send(Frame(FrameKind.PART, ident, part))
        session.channel.flush()
        return True

    async def answer(self) -> None:
        """Decode the request, run it, encode the reply and send it: a result, or the exception that stopped it.

        Never raises: whatever goes wrong, ``SystemExit`` from a method included, becomes a failure reply, so the
        worker keeps serving. The reply of a call the main thread cancelled is not sent (nobody waits for it). The
        reply carries the call's stamps: when it was received, started (decoded) and finished.
        """
        # The hot path of every call: one coroutine, no closures, the common operation and results tested first.
        session, frame, ident = self.session, self.frame, self.ident
        now = session.clock
        received = started = now()
        beside: protocol.Beside | None = None
        try:
            try:
                # A plain request (a few built-in arguments, nothing beside) is read at once; any other, or a
                # malformed one, by the full decoder, which says what is wrong with it.
                request = _plainRequest(frame) or await protocol.decodeRequest(
                    frame.payload, frame.attached, frame.buffers, self.callback, frame.joined
                )
                started = now()
                operation = request.operation
                if operation == protocol.OP_DESCRIBE:
                    result = session.services.describe(await session.lifeLock())
                else:
                    if operation == protocol.OP_CALL:
                        function = session.services.target(request.target)
                    else:
                        function = self._function(request)
                    if session.marksSync:
                        with session.channel.interruptible(ident):
                            result = function(*request.args, **(request.kwargs or {}))
                    else:
                        result = function(*request.args, **(request.kwargs or {}))
                    if operation == protocol.OP_STREAM:
                        await self.stream(_generator(function, result))
                        result = None
                    else:
                        resultType = type(result)
                        if resultType not in _NEVER_AWAITABLE and (
                            resultType is CoroutineType or inspect.isawaitable(result)
                        ):
                            result = await result
                finished = now()
            except BaseException as error:  # SystemExit from a method included: the worker must stay up
                reply = await _failureReply(error, protocol.Stamps(received, started, now()))
            else:
                stamps = protocol.Stamps(received, started, finished)
                plain = protocol.encodePlainReply(result, stamps) if type(result) in _NEVER_AWAITABLE else None
                if plain is not None:
                    reply = plain
                else:
                    if type(result) not in _NOTHING_BESIDE:
                        beside = session.channel.beside(sendPart=self.sendPart)
                    try:
                        reply = await protocol.encodeReply(True, result, stamps, beside)
                    except Exception as error:  # an unsendable result, or an adapter that failed to encode it
                        reply = await _failureReply(error, stamps)
                        beside = None  # a failure carries nothing beside it
        finally:
            self.active = False
            session.partsGoing.discard(ident)  # the reply is queued below, so it leaves before any later part
            session.parts.pop(ident, None)  # parts that came for it while it ran: nothing will claim them
        if ident in session.cancelled:  # the caller gave up: nobody waits for this reply
            session.cancelled.discard(ident)
            return
        channel = session.channel
        if not channel.closed:
            kind = FrameKind.STREAM_END if self.streamed else FrameKind.REPLY
            channel.send(protocol.outgoing(kind, ident, reply, beside))

    def _function(self, request: protocol.Request) -> Callable[..., Any]:
        """What a request of another operation than ``OP_CALL`` and ``OP_DESCRIBE`` runs, or :class:`ProtocolError`."""
        services = self.session.services
        if request.operation == protocol.OP_STREAM:
            return services.target(request.target)
        if request.operation == protocol.OP_FUNCTION:
            function = services.functions.get(request.target)
            if function is None:
                exported = ", ".join(sorted(services.functions)) or "nothing"
                raise ProtocolError(f"this worker exports no function {request.target!r}; it exports {exported}")
            return function
        raise ProtocolError("a worker does not take callback calls; only the main thread does")

    async def stream(self, items: Iterator[Any] | AsyncIterator[Any]) -> None:
        """Send what a generator yields while the consumer keeps up; close the generator however this ends."""
        self.streamed = True
        session, ident = self.session, self.ident
        credit = session.credits[ident] = _Credit()
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
                    with self.guard():
                        try:
                            item = next(items)
                        except StopIteration:
                            break
                await self._sendItem(item)
        finally:
            del session.credits[ident]
            await _closeGenerator(items)

    async def _sendItem(self, item: Any) -> None:
        channel = self.session.channel
        beside = channel.beside()
        payload = await protocol.encodeReply(True, item, None, beside)
        if not channel.closed:
            channel.send(protocol.outgoing(FrameKind.STREAM_ITEM, self.ident, payload, beside))

    def finished(self, task: asyncio.Task[None]) -> None:
        """The call's task is done (the done callback of a call that did not end as it started): forget it."""
        self.session.running.pop(self.ident, None)


def _generator(function: Callable[..., Any], result: Any) -> Iterator[Any] | AsyncIterator[Any]:
    """``result`` of a method called as a stream, or :class:`ProtocolError` when it is no generator."""
    if inspect.isgenerator(result) or inspect.isasyncgen(result):
        return result
    if inspect.iscoroutine(result):
        result.close()  # never awaited: closed, so no "never awaited" warning
    raise ProtocolError(
        f"{getattr(function, '__qualname__', function)} was called as a stream but returned "
        f"{type(result).__qualname__}, not a generator: the worker's class differs from the main thread's"
    )


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

    __slots__ = ("_call", "_index")

    def __init__(self, call: ServedCall, index: int) -> None:
        self._call = call
        self._index = index

    def __call__(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        call = self._call
        if not call.active:
            raise CallbackExpiredError(
                f"{self!r} was called after the call that received it ended; a callback can be called only while "
                f"that call runs (await what the method starts before returning, or stream instead)"
            )
        return call.session.callBack(call.ident, self._index, args, kwargs)

    def __repr__(self) -> str:
        state = "" if self._call.active else ", expired"
        return f"<workerlib callback {self._index} of request {self._call.ident}{state}>"


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


def _workerTable() -> ServiceTable:
    return table  # read when a session is made: tests put a table of their own in its place


def _retrieved(done: asyncio.Future[Any]) -> None:
    # Fire-and-forget is allowed: a failure nobody awaits is not reported as "never retrieved".
    if not done.cancelled():
        done.exception()


class Session(Endpoint):
    """Serves the requests that arrive on one channel from ``table`` (this worker's own :data:`table` by default):
    see the module's docstring. Each kind of frame the main thread sends is handled by the method marked for it (see
    :mod:`workerlib.endpoint`); each request it starts is a :class:`ServedCall`."""

    def __init__(self, channel: Channel, lifeLock: LifeLock = _noLifeLock, table: ServiceTable | None = None) -> None:
        super().__init__(channel, "the main thread", log)
        self.lifeLock = lifeLock
        self.services: ServiceTable = table if table is not None else _workerTable()
        """The table this session serves from."""
        self.clock = clock()
        """The shared clock the calls' stamps are read from (see :func:`workerlib._runtime.clock`)."""
        self.marksSync = channel.canInterrupt
        """Whether the channel's :meth:`~workerlib.channel.Channel.interruptible` marks a call's sync code (a buffer
        shared with the main thread, fixed when the channel is made); without, a call does without the guard (four
        Python calls, every call)."""
        self.running: dict[int, asyncio.Task[None]] = {}
        """The tasks of the calls that did not end as they started (``async`` methods that wait), by request id."""
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
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop of the message being handled, which runs its calls."""
        channel.onMalformed = self._malformed
        channel.onSendFailed = self._sendFailed

    def received(self, frames: list[Frame]) -> None:
        """Start every request of one message in order; the replies that are ready leave as one message when the
        channel has handed it over (see :class:`~workerlib.channel.Channel`)."""
        self.dropped = {frame.id for frame in frames if frame.kind == FrameKind.CANCEL}
        # Read once a message, not once a request. Given to each task: CPython 3.13.0's Task(eager_start=True) without
        # a loop fails to start (it asks the absent loop whether it runs).
        self.loop = asyncio.get_event_loop()
        super().received(frames)

    @handles(FrameKind.REQUEST)
    def _request(self, frame: Frame) -> None:
        if self.parts:  # parts are held (rarely): perhaps this request's
            self.parts.claim(frame)
        # A request the main thread cancelled while the worker ran the ones before it never starts: the mark in shared
        # memory is there before the running one is interrupted (Channel.interrupt).
        if frame.id in self.dropped or self.channel.wasCancelled(frame.id):
            self.skipped += 1
            return
        call = ServedCall(self, frame)
        task = asyncio.Task(call.answer(), loop=self.loop, eager_start=True)
        if not task.done():
            self.running[frame.id] = task
            task.add_done_callback(call.finished)

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
        if waiting is None:
            return
        try:
            plain = protocol.decodePlainReply(frame)
        except ProtocolError:
            plain = None  # malformed: the full path below says why, to the method that awaits
        if plain is not None and plain[0]:  # a plain result (a failure never is): settled at once, with no task
            if not waiting.done():
                waiting.set_result(plain[1])
            return
        asyncio.Task(self._settle(waiting, frame), loop=asyncio.get_event_loop(), eager_start=True)

    @handles(FrameKind.REPLY)
    def _reply(self, frame: Frame) -> None:
        # Answers are never answered: a worker that asked nothing drops them, so no two sides echo forever.
        if frame.id == 0:  # the main thread's answer to a message of ours it could not read
            log.warning("the main thread could not read a message this worker sent; its console says why")
        else:
            self.refusals.refuse(ProtocolError(f"a REPLY frame (id {frame.id}) came, which nobody here awaits"))

    def _sendFailed(self, frames: list[Frame], error: Exception) -> None:
        # The browser refused a batch of replies (a value structured clone cannot carry slipped through): each
        # caller gets that failure instead, so none waits for ever.
        # The channel already sent again the frames it did not blame.
        failure = ProtocolError(f"the browser refused to send the reply: {type(error).__name__}: {error}")
        loop = asyncio.get_event_loop()
        for frame in frames:
            if frame.kind in (FrameKind.REPLY, FrameKind.STREAM_ITEM, FrameKind.STREAM_END):
                asyncio.Task(self._refuse(frame.id, failure), loop=loop, eager_start=True)
            elif frame.kind == FrameKind.CALLBACK_CALL:
                waiting = self.awaiting.pop(frame.id, None)
                if waiting is not None and not waiting.done():
                    waiting.set_exception(failure)

    def _malformed(self, error: ProtocolError, frames: list[Frame]) -> None:
        # Every frame that could be read gets the error as its reply, described once for the whole message. Without
        # a readable header there is no id to answer; id 0 is never a call's, so the main thread logs it.
        self.refusals.refuse(error)
        idents = [frame.id for frame in frames if frame.kind != FrameKind.CANCEL] or [0]
        asyncio.Task(self._refuseAll(idents, error), loop=asyncio.get_event_loop(), eager_start=True)

    def callBack(self, ident: int, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        """Send a callback call to the main thread now; the future settles with the callable's outcome."""
        request = protocol.Request(protocol.OP_CALLBACK, (ident, index), args, kwargs)
        beside: protocol.Beside | None = None
        payload = protocol.encodePlainRequest(request)
        if payload is None:
            beside = self.channel.beside()
            # Encoded here and now (a sync method calling back does not give the loop a turn); an async adapter can't.
            payload = codec.runNow(protocol.encodeRequest(request, beside), "a callback's arguments")
        future: asyncio.Future[Any] = newFuture()
        future.add_done_callback(_retrieved)
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

    async def _refuse(self, ident: int, error: ProtocolError) -> None:
        self._send(Frame(FrameKind.REPLY, ident, await _failureReply(error, None)))

    async def _refuseAll(self, idents: list[int], error: ProtocolError) -> None:
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
