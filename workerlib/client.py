"""The main-thread side: a link to one worker over a :class:`~workerlib.channel.Channel`, and the clients on it.

Follow one call: ``client.add(1, 2)`` returns a :class:`~workerlib.Call`; awaiting it runs :meth:`Connection.run`,
which encodes a request frame and hands it to :meth:`Link.request`. The link gives the frame an id, queues it on the
channel (requests of one loop turn leave as one message) and waits for the reply frame with the same id, which
:meth:`Link.received` routes back. The reply is decoded here: a result, or the worker's exception raised again.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, Self, overload

from . import protocol
from ._runtime import clock, newFuture
from .calls import Call, Stream
from .channel import Channel
from .decorators import _positionalFit, remoteMethod
from .endpoint import Endpoint, handles
from .errors import AdapterError, CallbackExpiredError, ProtocolError, UnsendableError, WorkerClosedError
from .methods import publicMethods
from .protocol import Frame, FrameKind

log = logging.getLogger("workerlib.client")


class Waiting(Protocol):
    """What waits on a link for the reply to one request: an ``asyncio.Future`` of the reply frame, or one call of a
    :meth:`ServiceClient.map` (:class:`_MapSlot`), which hands its reply to the map at once."""

    def done(self) -> bool: ...

    def set_result(self, frame: Frame, /) -> None: ...

    def set_exception(self, error: BaseException, /) -> None: ...


class Link(Endpoint):
    """Everything this thread knows of one worker: its channel, the calls waiting for a reply, whether it still lives.

    Shared by every client of that worker, so a worker's death fails all of their pending calls at once. Each kind of
    frame the worker sends is handled by the method marked for it (see :mod:`workerlib.endpoint`).
    """

    def __init__(self, name: str, worker: Any, channel: Channel) -> None:
        super().__init__(channel, f"worker {name!r}", log)
        self.name = name
        self.worker = worker
        """PyScript's own object for the worker (``None`` on a loopback)."""
        self.pending: dict[int, Waiting] = {}
        """What waits for a reply, by request id."""
        self.streams: dict[int, StreamFeed] = {}
        self.partsGoing: set[int] = set()
        """Requests whose parts went ahead and whose payload has not been sent yet (see ``MAX_OPEN_PART_IDS``)."""
        self.callbacks: dict[int, list[Any]] = {}
        """The callables passed to each call in progress, by request id: what the worker's callbacks call."""
        self.gone: str | None = None
        """Why no call can reach the worker any more, once that is so."""
        self.onGone: Callable[[], None] | None = None
        """Called once when the link fails: stops watching the worker's life."""
        self.watchers: list[Callable[[str], None]] = []
        """Called with the reason once the link fails (a pool replaces a worker that died)."""
        self.stopWorker: Callable[[], None] | None = None
        """Ends the worker itself and takes it off the page; set by whoever found it (``None`` on a loopback)."""
        self.stopped = False
        """Whether :meth:`terminate` has ended the worker (ending it twice could end a later worker of its name)."""
        self._handle: WorkerHandle | None = None
        self._ids = itertools.count(1)
        channel.onMalformed = self._malformed
        channel.onSendFailed = self._sendFailed
        channel.onPeerDied = lambda reason: self.sever(f"lost its Python interpreter ({reason})")

    @handles(FrameKind.REPLY)
    def _reply(self, frame: Frame) -> None:
        feed = self.streams.get(frame.id)
        if feed is not None:
            feed.put(frame)  # a REPLY ends a stream too: the worker failed before the stream started
            return
        self.parts.claim(frame)
        waiting = self.pending.get(frame.id)
        if waiting is not None and not waiting.done():
            waiting.set_result(frame)
        elif frame.id == 0:  # the worker's answer to a message of ours it could not read
            log.warning("worker %r could not read a message this thread sent", self.name)
        # else a late reply to a call that gave up: dropped

    @handles(FrameKind.STREAM_ITEM, FrameKind.STREAM_END)
    def _streamed(self, frame: Frame) -> None:
        feed = self.streams.get(frame.id)
        if feed is not None:
            if frame.kind == FrameKind.STREAM_ITEM and feed.arrived >= feed.allowed:
                self._overran(frame.id, feed)
            else:
                feed.put(frame)
        elif frame.id in self.pending:  # a stream's frame for a call that is no stream: it cannot complete
            error = ProtocolError(f"worker {self.name!r} sent {protocol.kindName(frame.kind)} for call {frame.id}")
            self.refusals.refuse(error)
            self._failCall(frame.id, error)
        # else the rest of a stream whose consumer left: dropped

    @handles(FrameKind.PART)
    def _part(self, frame: Frame) -> None:
        if frame.id in self.pending:
            refused = self.parts.add(frame)
            if refused is not None:
                self.refusals.refuse(refused)
        # else parts of a reply nobody waits for any more: dropped

    @handles(FrameKind.CALLBACK_CALL)
    def _callbackCall(self, frame: Frame) -> None:
        asyncio.Task(self._callBack(frame), loop=asyncio.get_event_loop(), eager_start=True)

    def answers(self, frame: Frame) -> bool:
        return super().answers(frame) and self.gone is None

    def refusal(self, frame: Frame) -> bytes:
        # To a worker that may be hostile, the smallest fixed answer: the reason is in this thread's log.
        return protocol.refusal(ProtocolError("a frame of a kind this side does not handle"))

    def _overran(self, ident: int, feed: StreamFeed) -> None:
        """Stream ``ident``'s worker sent an item past the credit this side granted: fail the stream, stop it."""
        error = ProtocolError(
            f"worker {self.name!r} overran the window of stream {ident}: it sent item {feed.arrived + 1} when "
            f"this side had allowed {feed.allowed} (STREAM_AHEAD {protocol.STREAM_AHEAD} plus the items taken); "
            f"the stream is stopped and its further items dropped"
        )
        self.refusals.refuse(error)
        feed.fail(error)
        self.streams.pop(ident, None)  # later items find no stream, and are dropped
        if self.gone is None:
            self.cancel(ident)

    async def _callBack(self, frame: Frame) -> None:
        """Run a callable passed to a call, as the worker's callback asks, and send its outcome back.

        A callback call refused before anything runs (malformed, or naming a call that has ended) is answered with a
        fixed failure (:func:`protocol.refusal`) and logged coalesced: a flood of them costs this thread little.
        """
        try:
            request = protocol.decodePlainRequest(frame) or await protocol.decodeRequest(
                frame.payload, frame.attached, frame.buffers
            )
            if request.operation != protocol.OP_CALLBACK:
                raise ProtocolError(f"a callback call must be a {protocol.OP_CALLBACK} request")
            requestId, index = request.target
            passed = self.callbacks.get(requestId)
            if passed is None or not 0 <= index < len(passed):
                raise CallbackExpiredError(
                    f"worker {self.name!r} called callback {index} of call {requestId}, which has ended or has none"
                )
        except (ProtocolError, CallbackExpiredError) as refused:
            self.refusals.refuse(refused)
            if self.gone is None:
                self.channel.send(Frame(FrameKind.CALLBACK_REPLY, frame.id, protocol.refusal(refused)))
            return
        try:
            result = passed[index](*request.args, **(request.kwargs or {}))
            if inspect.isawaitable(result):
                result = await result
            beside: protocol.Beside | None = None
            payload = protocol.encodePlainReply(result, None)
            if payload is None:
                beside = self.channel.beside()
                payload = await protocol.encodeReply(True, result, None, beside)
        except Exception as error:  # the callback's own exception included: the worker raises it where it awaits
            beside = None
            payload = await protocol.encodeReply(False, await protocol.RemoteFailure.capture(error))
        if self.gone is None:
            self.channel.send(protocol.outgoing(FrameKind.CALLBACK_REPLY, frame.id, payload, beside))

    def _failCall(self, ident: int, error: Exception) -> None:
        future = self.pending.get(ident)
        if future is not None and not future.done():
            future.set_exception(error)

    def _sendFailed(self, frames: list[Frame], error: Exception) -> None:
        # The channel already sent again the frames it did not blame.
        refused = ProtocolError(f"the browser refused to send this call: {type(error).__name__}: {error}")
        for frame in frames:
            self._failCall(frame.id, refused)

    def _malformed(self, error: ProtocolError, frames: list[Frame]) -> None:
        self.refusals.refuse(error)
        for frame in frames:
            self._failCall(frame.id, error)
        if not frames and self.gone is None:
            # A message refused whole (unreadable, or too many frames): the worker is told once, with id 0, which is
            # never a call's; it logs that and answers nothing. A message whose frames could be read (another
            # protocol version) is not answered: two sides of different versions would answer each other for ever.
            self.channel.send(Frame(FrameKind.REPLY, 0, protocol.refusal(error)))

    def sever(self, reason: str) -> None:
        """Mark the worker unreachable and fail every pending call on it."""
        if self.gone is not None:
            return
        self.gone = reason
        self.parts.clear()
        self.partsGoing.clear()
        for future in list(self.pending.values()):
            if not future.done():
                future.set_exception(WorkerClosedError(f"worker {self.name!r} {reason} while this call was pending"))
        for feed in list(self.streams.values()):
            feed.fail(WorkerClosedError(f"worker {self.name!r} {reason} while this stream was open"))
        self.channel.close()
        if self.onGone is not None:
            self.onGone()
        for watcher in self.watchers:
            try:
                watcher(reason)
            except Exception:
                log.exception("a watcher of worker %r failed", self.name)

    def terminate(self, reason: str) -> None:
        """End the worker: fail every pending call on it with ``reason``, then stop it (only the first time)."""
        self.sever(reason)
        if self.stopped:
            return
        self.stopped = True
        if self.stopWorker is not None:
            self.stopWorker()

    @property
    def handle(self) -> WorkerHandle:
        """The :class:`WorkerHandle` of this worker, one for every client of it."""
        if self._handle is None:
            self._handle = WorkerHandle(self)
        return self._handle

    async def request(
        self,
        kind: int,
        payload: bytes,
        where: str,
        *,
        timeout: float | None = None,
        beside: protocol.Beside | None = None,
        ident: int | None = None,
    ) -> Frame:
        """Send one frame and wait for the reply frame with its id, at most ``timeout`` seconds.

        A call that stops waiting (a deadline, a cancelled task) tells the worker with a ``CANCEL`` frame, and
        interrupts it if it is a sync method running (see :meth:`Channel.interrupt`). ``beside``: what travels beside
        the payload, its callbacks included (the callables the request passes, which the worker may call until the
        reply arrives). ``ident``: the id the request's parts were sent ahead with (see :meth:`sendPart`), else a new
        one.
        """
        if self.gone is not None:
            raise WorkerClosedError(f"cannot call {where}: worker {self.name!r} {self.gone}")
        if ident is None:
            ident = self.nextId()
        reply: asyncio.Future[Frame] = newFuture()
        self.pending[ident] = reply
        if beside is not None and beside.callbacks:
            self.callbacks[ident] = beside.callbacks
        try:
            self.partsGoing.discard(ident)  # the payload leaves before any later part: its parts are claimed
            self.channel.send(protocol.outgoing(kind, ident, payload, beside))
            # No wait_for without a deadline: the common case stays one plain await.
            return await (reply if timeout is None else asyncio.wait_for(reply, timeout))
        except TimeoutError:
            if timeout is None or (reply.done() and not reply.cancelled()):
                raise
            raise TimeoutError(f"{where} did not answer within {timeout:g} s; a late answer is dropped") from None
        finally:
            del self.pending[ident]
            self.callbacks.pop(ident, None)
            self.parts.pop(ident, None)
            if (reply.cancelled() or not reply.done()) and self.gone is None:
                self.cancel(ident)

    def sendPart(self, ident: int, payload: bytes) -> bool:
        """Send a part of request ``ident`` now, ahead of the request (see ``FrameKind.PART``); whether it went.

        The first part of a request does not go while :data:`~workerlib.protocol.MAX_OPEN_PART_IDS` other requests
        have parts ahead of a payload not yet sent: the worker would refuse it, so the list goes whole.
        """
        if self.gone is not None:
            return False
        if ident not in self.partsGoing:
            if len(self.partsGoing) >= protocol.MAX_OPEN_PART_IDS:
                return False
            self.partsGoing.add(ident)
        # The flush sends the payloads queued before this part with it, ahead of it: their parts are then claimed.
        self.channel.send(Frame(FrameKind.PART, ident, payload))
        self.channel.flush()
        return True

    def nextId(self) -> int:
        """A fresh request id (the parts of a request go ahead of it under its id, so a call takes one first)."""
        ident = next(self._ids)
        if ident > protocol.MAX_ID:
            self._ids = itertools.count(2)
            ident = 1
        return ident

    def cancel(self, ident: int) -> None:
        """Tell the worker nobody waits for request ``ident`` any more; a sync method running it is interrupted."""
        self.partsGoing.discard(ident)  # the worker drops the parts it holds for it
        self.channel.interrupt(ident)
        self.channel.send(Frame(FrameKind.CANCEL, ident))

    def openStream(self, payload: bytes, where: str, beside: protocol.Beside) -> tuple[int, StreamFeed]:
        """Send a stream's request; its frames then gather in the returned feed until :meth:`closeStream`."""
        if self.gone is not None:
            raise WorkerClosedError(f"cannot call {where}: worker {self.name!r} {self.gone}")
        ident = self.nextId()
        feed = self.streams[ident] = StreamFeed()
        if beside.callbacks:
            self.callbacks[ident] = beside.callbacks
        self.channel.send(protocol.outgoing(FrameKind.REQUEST, ident, payload, beside))
        return ident, feed

    def closeStream(self, ident: int, tellWorker: bool) -> None:
        """Forget stream ``ident``; with ``tellWorker``, tell the worker to stop its generator."""
        self.streams.pop(ident, None)
        self.callbacks.pop(ident, None)
        if tellWorker and self.gone is None and not self.channel.closed:
            self.cancel(ident)

    def pull(self, ident: int, count: int) -> None:
        """Let the worker run ``count`` items further ahead on stream ``ident``."""
        feed = self.streams.get(ident)
        if feed is not None and self.gone is None and not self.channel.closed:
            feed.allowed += count  # granted before the worker knows: an honest worker never overruns it
            self.channel.send(Frame(FrameKind.STREAM_PULL, ident, protocol.encodeCount(count)))

    async def describe(self, timeout: float | None = None) -> protocol.Description:
        """Ask the worker what it serves.

        An answer that is not a well-formed description (see :meth:`protocol.Description.checked`) counts as serving
        nothing, with a warning naming the worker: ``connect()`` reads every worker's answer, and one worker's bad
        answer must not stop it from finding another.
        """
        payload = await protocol.encodeRequest(protocol.Request(protocol.OP_DESCRIBE, None))
        frame = await self.request(FrameKind.REQUEST, payload, f"worker {self.name!r}", timeout=timeout)
        ok, value, _ = await protocol.decodeReply(frame.payload, frame.attached)
        if not ok:
            raise await value.rebuild(f"describing worker {self.name!r}")
        try:
            return protocol.Description.checked(value)
        except ProtocolError as error:
            log.warning(
                "worker %r answered what it serves with a malformed description, so it is taken to serve nothing: %s",
                self.name,
                error,
            )
            return protocol.Description(services=(), functions=())


class StreamFeed:
    """The frames of one stream that arrived and were not taken yet, or why no more will come."""

    def __init__(self) -> None:
        self.frames: collections.deque[Frame] = collections.deque()
        self.error: BaseException | None = None
        self.arrived = 0
        """How many items arrived."""
        self.allowed = protocol.STREAM_AHEAD
        """How many items the worker may have sent by now: ``STREAM_AHEAD`` plus what this side's pulls granted."""
        self._waiter: asyncio.Future[None] | None = None

    def put(self, frame: Frame) -> None:
        if frame.kind == FrameKind.STREAM_ITEM:
            self.arrived += 1
        self.frames.append(frame)
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self, timeout: float | None) -> Frame:
        """The next frame, waiting at most ``timeout`` seconds for it; items that arrived come before a failure."""
        while not self.frames:
            if self.error is not None:
                raise self.error
            self._waiter = newFuture()
            try:
                await (self._waiter if timeout is None else asyncio.wait_for(self._waiter, timeout))
            finally:
                self._waiter = None
        return self.frames.popleft()


class _RemoteStream:
    """The channel side of one :class:`~workerlib.calls.Stream`: a request out, item frames in, pulls out."""

    def __init__(self, connection: Connection, request: protocol.Request, where: str) -> None:
        self.connection = connection
        self.request = request
        self.where = where
        self.ident = 0
        self.feed: StreamFeed | None = None
        self.taken = 0  # items taken since the last pull

    async def open(self) -> None:
        connection = self.connection
        if connection.closed:
            raise WorkerClosedError(f"cannot call {self.where}: the client was closed")
        link = connection.link
        beside = link.channel.beside(callbacks=True)
        payload = await protocol.encodeRequest(self.request, beside)
        self.ident, self.feed = link.openStream(payload, self.where, beside)

    async def next(self, timeout: float | None) -> tuple[bool, Any]:
        assert self.feed is not None
        try:
            frame = await self.feed.take(timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{self.where} sent no item within {timeout:g} s; the stream is stopped in the worker"
            ) from None
        ok, value, _ = await protocol.decodeReply(frame.payload, frame.attached, frame.buffers)
        if frame.kind == FrameKind.STREAM_ITEM and ok:
            self.taken += 1
            if self.taken >= protocol.STREAM_PULL_EVERY:
                self.connection.link.pull(self.ident, self.taken)
                self.taken = 0
            return True, value
        self.connection.link.closeStream(self.ident, tellWorker=False)
        self.feed = None
        if ok:
            return False, None
        raise await value.rebuild(self.where)

    def close(self) -> None:
        if self.feed is not None:
            self.feed = None
            try:
                self.connection.link.closeStream(self.ident, tellWorker=True)
            except Exception:  # called from __del__ too, maybe after the event loop closed: nothing left to stop
                log.debug("could not stop stream %d on worker %r", self.ident, self.connection.name, exc_info=True)


class Connection:
    """One client's view of a link: its own closed state, default timeout, and what closing it also does."""

    def __init__(self, link: Link, *, timeout: float | None = None, onClose: Callable[[], None] | None = None) -> None:
        self.link = link
        self.timeout = timeout
        self.onClose = onClose
        self.closed = False

    @property
    def name(self) -> str:
        return self.link.name

    def call(self, request: protocol.Request, where: str) -> Call[Any]:
        return Call(self.run, self.timeout, where, request)

    async def run(self, call: Call[Any], request: protocol.Request) -> Any:
        """Carry out one call: encode the request, exchange frames, decode the reply."""
        if self.closed:
            raise WorkerClosedError(f"cannot call {call.where}: the client was closed")
        now = clock()
        began = now()
        payload = protocol.encodePlainRequest(request)
        if payload is None:
            frame = await self._exchange(call, request)
        else:  # the calls made most: nothing travels beside the payload or goes ahead of it
            frame = await self.link.request(FrameKind.REQUEST, payload, call.where, timeout=call.timeout)
        reply = protocol.decodePlainReply(frame)
        if reply is None:
            reply = await protocol.decodeReply(frame.payload, frame.attached, frame.buffers, frame.joined)
        ok, value, stamps = reply
        if stamps is not None:
            call.answered(began, stamps.started, stamps.finished, now())
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %s", call.where, call.timing)
        if ok:
            return value
        raise await value.rebuild(call.where)

    async def _exchange(self, call: Call[Any], request: protocol.Request) -> Frame:
        """Send a request whose arguments may travel beside its payload or ahead of it; its reply frame."""
        link = self.link
        ident = link.nextId()
        sent = False

        def sendPart(part: bytes) -> bool:
            nonlocal sent
            went = link.sendPart(ident, part)
            sent = sent or went
            return went

        beside = link.channel.beside(callbacks=True, sendPart=sendPart)
        try:
            payload = await protocol.encodeRequest(request, beside)
        except BaseException:
            if sent and link.gone is None:
                link.cancel(ident)  # the worker drops the parts it holds
            raise
        return await link.request(
            FrameKind.REQUEST, payload, call.where, timeout=call.timeout, beside=beside, ident=ident
        )

    async def runMap(
        self,
        call: Call[Any],
        target: protocol.ServiceTarget,
        items: list[tuple[Any, ...]],
        each: str,
        offset: int = 0,
    ) -> list[Any]:
        """Carry out the calls of one :meth:`ServiceClient.map`: all sent in one message, their replies gathered.

        ``each`` names one call (``Calculator.add() on worker 'calc'``), for the failure of an item; ``offset`` is the
        index of the first item in what the user mapped over (a pool sends a map in chunks), for the same messages.

        Every item is encoded before anything is sent. Each call waits on the link as a :class:`_MapSlot` (no task,
        no future of its own); replies are decoded as they arrive. The first failure is raised, and every call not
        answered by then (a deadline, a cancelled task, a failure) is cancelled in the worker.
        """
        where = call.where
        if self.closed:
            raise WorkerClosedError(f"cannot call {where}: the client was closed")
        link = self.link
        channel = link.channel
        now = clock()
        began = now()
        encoded: list[tuple[bytes, protocol.Beside | None]] = []
        for index, args in enumerate(items):
            request = protocol.Request(protocol.OP_CALL, target, args, None)
            plain = protocol.encodePlainRequest(request)
            if plain is not None:  # the items maps are made of: nothing beside them
                encoded.append((plain, None))
                continue
            beside = channel.beside(callbacks=True)
            try:
                payload = await protocol.encodeRequest(request, beside)
            except AdapterError as error:
                raise AdapterError(f"map item {offset + index}, {error}", adapter=error.adapter) from error.__cause__
            except UnsendableError as error:
                raise UnsendableError(f"map item {offset + index}, {error}") from error.__cause__
            encoded.append((payload, beside))
        if not items:
            return []
        if self.closed:
            raise WorkerClosedError(f"cannot call {where}: the client was closed")
        if link.gone is not None:
            raise WorkerClosedError(f"cannot call {where}: worker {link.name!r} {link.gone}")
        replies = _MapReplies()
        idents: list[int] = []
        results: list[Any] = [None] * len(items)
        left = len(items)
        first = last = received = None
        timeout = call.timeout
        deadline = asyncio.timeout(timeout)
        try:
            frames = []
            for index, (payload, carried) in enumerate(encoded):
                ident = link.nextId()
                link.pending[ident] = _MapSlot(replies, index)
                idents.append(ident)
                if carried is not None and carried.callbacks:
                    link.callbacks[ident] = carried.callbacks
                frames.append(protocol.outgoing(FrameKind.REQUEST, ident, payload, carried))
            encoded.clear()
            channel.sendAll(frames)  # one message (with whatever this turn queued before it)
            frames.clear()
            async with deadline:
                while left:
                    if not replies.arrived and replies.error is None:
                        await replies.wait()
                    arrived, replies.arrived = replies.arrived, []
                    for index, frame in arrived:
                        ident = idents[index]
                        del link.pending[ident]  # answered: no longer busy, no longer cancellable
                        link.callbacks.pop(ident, None)
                        reply = protocol.decodePlainReply(frame)
                        if reply is None:
                            reply = await protocol.decodeReply(
                                frame.payload, frame.attached, frame.buffers, frame.joined
                            )
                        ok, value, stamps = reply
                        if not ok:
                            raise await value.rebuild(f"{each}, map item {offset + index}")
                        results[index] = value
                        left -= 1
                        if stamps is not None:
                            received = stamps.received if received is None else min(received, stamps.received)
                            first = stamps.started if first is None else min(first, stamps.started)
                            last = stamps.finished if last is None else max(last, stamps.finished)
                    if replies.error is not None:
                        raise replies.error
        except TimeoutError:
            if not deadline.expired():
                raise
            raise TimeoutError(
                f"{where} did not answer within {timeout:g} s ({left} of {len(items)} calls unanswered, now "
                f"cancelled); late answers are dropped"
            ) from None
        finally:
            for ident in idents:
                slot = link.pending.pop(ident, None)
                if slot is not None:  # not taken: nobody waits for it any more
                    link.callbacks.pop(ident, None)
                    link.parts.pop(ident, None)
                    if not slot.done() and link.gone is None:  # not answered either: the worker is told
                        link.cancel(ident)
        if received is not None and first is not None and last is not None:
            call.answered(began, first, last, now())
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %s", where, call.timing)
        return results

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.onClose is not None:
            self.onClose()


class _MapReplies:
    """The replies of one map's calls as they arrive, in arrival order, and the first failure the link reported."""

    __slots__ = ("_waiter", "arrived", "error")

    def __init__(self) -> None:
        self.arrived: list[tuple[int, Frame]] = []
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def arrive(self, index: int, frame: Frame) -> None:
        self.arrived.append((index, frame))
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until a reply or a failure arrives (the caller checks there is none first)."""
        self._waiter = newFuture()
        try:
            await self._waiter
        finally:
            self._waiter = None


class _MapSlot:
    """One call of a map, waiting on the link's :attr:`Link.pending` in a future's place: hands its reply on at once."""

    __slots__ = ("_done", "index", "replies")

    def __init__(self, replies: _MapReplies, index: int) -> None:
        self.replies = replies
        self.index = index
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, frame: Frame, /) -> None:
        self._done = True
        self.replies.arrive(self.index, frame)

    def set_exception(self, error: BaseException, /) -> None:
        self._done = True
        self.replies.fail(error)


TERMINATED = "was terminated with worker.terminate()"
"""Why no call reaches a worker that :meth:`WorkerHandle.terminate` ended: what its calls' errors say."""


class WorkerHandle:
    """The worker a client calls (``client.worker``): its name, whether calls still reach it, and a way to end it.

    Every client of one worker gives the same handle. ``await client.close()`` only releases a client of a worker the
    page declared; :meth:`terminate` ends the worker itself. :attr:`js` is PyScript's own object for the worker, for
    anything workerlib does not cover.
    """

    __slots__ = ("_link",)

    def __init__(self, link: Link) -> None:
        self._link = link

    @property
    def name(self) -> str:
        """The worker's name, as in its ``<script type="py" worker name="...">`` tag."""
        return self._link.name

    @property
    def js(self) -> Any:
        """PyScript's own object for the worker (``await pyscript.workers[name]``; ``None`` on a loopback).

        It is a proxy of the functions the worker's ``__export__`` lists: every attribute read on it names one, so
        ``js.terminate()`` calls a worker function ``terminate`` rather than ending the worker. Use
        :meth:`terminate` for that.
        """
        return self._link.worker

    @property
    def running(self) -> bool:
        """Whether calls can still reach the worker, ``False`` once it was terminated, crashed or was closed."""
        return self._link.gone is None

    @property
    def stoppedBecause(self) -> str | None:
        """Why no call reaches the worker any more (``"was terminated with worker.terminate()"``), ``None`` while
        it runs."""
        return self._link.gone

    def terminate(self) -> None:
        """End the worker now, whatever it is doing, as the browser's ``Worker.terminate()`` does.

        Every pending call and open stream on it, from any client, fails at once with
        :class:`~workerlib.WorkerClosedError`, and so does every later call. The worker's thread stops even in the
        middle of a sync method, and its ``<script>`` element leaves the page (PyScript keeps the name taken: give a
        new worker another). A pool replaces a member ended this way, as it replaces one that crashed;
        ``await pool.close()`` ends them all. Calling it again does nothing.
        """
        self._link.terminate(TERMINATED)

    def __repr__(self) -> str:
        state = "running" if self.running else self.stoppedBecause
        return f"<workerlib worker {self.name!r}, {state}>"


def _clientState(connection: Connection) -> str:
    """What a client's repr adds to its worker's name: nothing while calls can go through."""
    if connection.closed:
        return ", closed"
    gone = connection.link.gone
    return f", which {gone}" if gone is not None else ""


class ServiceClient[S = Any]:
    """Base of every client ``connect`` returns; subclasses gain one method per public service method.

    ``S`` is the service class, for type checkers: ``await Calculator.connect()`` is a
    ``ServiceClient[Calculator]``, whose methods ``workerlib.mypyplugin`` types from ``Calculator``'s (see the
    guide, "Type checking"); without the plugin they are ``Any``.
    """

    if TYPE_CHECKING:
        # For type checkers only: the service's methods are attributes of the subclass ``clientClass`` makes, which a
        # checker cannot see; this tells it they exist (mypy's plugin gives each its type).
        def __getattr__(self, name: str) -> Any: ...

    _service: type = object
    _base: type = object

    _methods: tuple[str, ...] = ()

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._targets: dict[str, tuple[protocol.ServiceTarget, str]] = {}
        """Per method called: what the wire names and what messages name, worked out once."""
        cls = type(self)
        for name in self._methods:
            # Bound once, here: wrapt binds a stand-in anew at every attribute read otherwise (a few microseconds of
            # pure Python in Pyodide, every call). The class's stand-in has no __set__, so this one is found first.
            vars(self)[name] = getattr(cls, name).__get__(self, cls)

    @property
    def worker(self) -> WorkerHandle:
        """The worker this client calls, a :class:`WorkerHandle` (its name, ``terminate()`` to end it, PyScript's
        own object as ``worker.js``)."""
        return self._connection.link.handle

    @property
    def workerName(self) -> str:
        """The name of the worker this client calls."""
        return self._connection.name

    @property
    def timeout(self) -> float | None:
        """The default deadline of this client's calls, in seconds (``None``: wait for ever)."""
        return self._connection.timeout

    async def close(self) -> None:
        """Release the client; later calls raise :class:`~workerlib.WorkerClosedError`. A spawned worker is stopped."""
        await self._connection.close()

    async def __aenter__(self) -> Self:
        # Self, not ServiceClient: ``async with ... as client`` keeps the service type for type checkers.
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call[Any]:
        known = self._targets.get(method)
        if known is None:
            service = self._service
            target = protocol.ServiceTarget(service.__qualname__, service.__module__, method)
            known = self._targets[method] = (target, f"{service.__qualname__}.{method}() on worker {self.workerName!r}")
        target, where = known
        return self._connection.call(protocol.Request(protocol.OP_CALL, target, args, kwargs), where)

    @overload
    def map[A, T](self, method: Callable[[Any, A], Awaitable[T]], iterable: Iterable[A], /) -> Call[list[T]]: ...

    @overload
    def map[A, T](self, method: Callable[[Any, A], T], iterable: Iterable[A], /) -> Call[list[T]]: ...

    @overload
    def map[A, B, T](
        self, method: Callable[[Any, A, B], Awaitable[T]], first: Iterable[A], second: Iterable[B], /
    ) -> Call[list[T]]: ...

    @overload
    def map[A, B, T](
        self, method: Callable[[Any, A, B], T], first: Iterable[A], second: Iterable[B], /
    ) -> Call[list[T]]: ...

    @overload
    def map(
        self, method: Callable[..., Any], iterable: Iterable[Any], /, *iterables: Iterable[Any]
    ) -> Call[list[Any]]: ...

    def map(self, method: Callable[..., Any], iterable: Iterable[Any], /, *iterables: Iterable[Any]) -> Call[list[Any]]:
        """Call ``method`` once per item, like the built-in ``map``: the results in input order.

        ``method`` is a method of the service, ``Service.method`` or ``client.method``, not a generator method. With
        several iterables, each call takes one item of each as its positional arguments, and the map stops at the
        shortest (``zip``). The items are read and checked against the method's signature here, at once
        (``TypeError`` naming the item's index); an argument that cannot cross fails when the map runs, naming the
        item too (``map item 3, args[0]: cannot send ...``), before anything is sent.

        Returns a :class:`~workerlib.Call` of the list of results: await it, gather it, or give it its own deadline
        with ``.withTimeout(seconds)``, which bounds the whole map. All its calls leave in one message and their
        results come back in as few as the worker's pace allows; no task is made per call. The first call that fails
        raises its exception; a deadline that passes raises ``TimeoutError``; cancelling the task that awaits the map
        raises ``CancelledError``. Each way, every call not answered yet is cancelled in the worker::

            sums = await calculator.map(Calculator.add, [1, 2, 3], [10, 20, 30])  # [11, 22, 33]
        """
        service = self._service
        name, function = mappedMethod(service, self._base, method, "client")
        items = list(zip(iterable, *iterables, strict=False))  # stops at the shortest, as map() does
        owner = f"{service.__qualname__}.{name}()"
        for index, args in enumerate(items):
            checkMapItem(function, owner, index, args)
        target = protocol.ServiceTarget(service.__qualname__, service.__module__, name)
        each = f"{owner} on worker {self.workerName!r}"
        where = f"map({service.__qualname__}.{name}) of {len(items)} items on worker {self.workerName!r}"
        connection = self._connection
        return Call(lambda call: connection.runMap(call, target, items, each), connection.timeout, where)

    def _stream(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Stream[Any]:
        source = streamOf(self, method, args, kwargs)
        return Stream(source, self._connection.timeout, source.where)

    @property
    def _busy(self) -> int:
        """Calls and streams in progress on this client's worker (a pool sends a call to its least busy worker)."""
        link = self._connection.link
        return len(link.pending) + len(link.streams)

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} for worker {self.workerName!r}{_clientState(self._connection)}>"


CLIENT_NAMES = frozenset(name for name in dir(ServiceClient) if not name.startswith("_"))
"""The client's own attributes: a service method of one of these names would hide them, so none may have one."""


_clientClasses: dict[type, type[ServiceClient]] = {}


def streamOf(client: ServiceClient, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _RemoteStream:
    """The channel side of a stream of ``client``'s service method ``method``."""
    service = client._service
    target = protocol.ServiceTarget(service.__qualname__, service.__module__, method)
    request = protocol.Request(protocol.OP_STREAM, target, args, kwargs)
    where = f"{service.__qualname__}.{method}() on worker {client.workerName!r}"
    return _RemoteStream(client._connection, request, where)


def isStreaming(function: Callable[..., Any]) -> bool:
    """Whether a service method streams: a generator function, sync or ``async``."""
    return inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)


def mappedMethod(service: type, base: type, method: Any, spelled: str) -> tuple[str, Callable[..., Any]]:
    """The name and function of the service method a ``map`` was given, or ``TypeError`` saying what to pass.

    Accepted: the service's function (``Service.method``, inherited ones and those of a base the service overrides
    included) and the stand-in of a client or pool of the service (``client.method``, ``pool.method``).
    ``spelled`` is what the caller is called in the message (``client``, ``pool``).
    """
    qualname = service.__qualname__
    name = getattr(method, "__name__", None)
    name = name if isinstance(name, str) else ""
    function = publicMethods(service, base).get(name)
    if function is None or not _isMethodNamed(method, service, name):
        raise TypeError(f"map() takes a method of {qualname} ({qualname}.name or {spelled}.name), got {method!r}")
    if isStreaming(function):
        raise TypeError(
            f"map() takes a method that returns one value; {name}() is a generator: iterate "
            f"{spelled}.{name}(...) with async for instead"
        )
    return name, function


def _isMethodNamed(method: Any, service: type, name: str) -> bool:
    """Whether ``method`` is the function ``name`` of ``service`` or of a class it derives from, or a stand-in of it."""
    try:
        found = inspect.unwrap(method)
    except ValueError:  # a cycle of __wrapped__
        return False
    found = getattr(found, "__func__", found)  # a client's or pool's stand-in, bound, unwraps to a bound method
    return any(vars(cls).get(name) is found for cls in service.__mro__)


def checkMapItem(function: Callable[..., Any], owner: str, index: int, args: tuple[Any, ...]) -> None:
    """``TypeError`` naming item ``index`` of a map unless ``args`` bind to the service method ``function``
    (``owner`` names it: ``Calculator.add()``)."""
    signature, fits = _mapSignature(function)
    if not fits(len(args)):
        try:
            signature.bind(*args)
        except TypeError as error:
            raise TypeError(f"map item {index}: {owner}: {error}") from None


@functools.cache
def _mapSignature(function: Callable[..., Any]) -> tuple[inspect.Signature, Callable[[int], bool]]:
    """A service method's signature as its client has it (no ``self``), and whether a count of arguments certainly
    binds to it (see :func:`~workerlib.decorators.remoteMethod`)."""
    parameters = list(inspect.signature(function).parameters.values())
    signature = inspect.Signature(parameters[1:])
    return signature, _positionalFit(signature)


def clientClass(service: type, base: type) -> type[ServiceClient]:
    """The client class for ``service``, made once: one wrapt stand-in per public method."""
    if service not in _clientClasses:
        namespace: dict[str, Any] = {
            "_service": service,
            "_base": base,
            "__doc__": service.__doc__,
            "__module__": service.__module__,
        }
        methods = publicMethods(service, base)
        for name, function in methods.items():
            namespace[name] = remoteMethod(function, name, service.__qualname__, streams=isStreaming(function))
        namespace["_methods"] = tuple(methods)
        _clientClasses[service] = type(f"{service.__qualname__}Client", (ServiceClient,), namespace)
    return _clientClasses[service]


class Worker:
    """A connection to a worker's functions registered with ``export``: ``await worker.func(*args, **kwargs)``."""

    def __init__(self, connection: Connection, functions: tuple[str, ...]) -> None:
        self._connection = connection
        self.functions = functions
        """Names of the functions the worker exports."""

    @property
    def worker(self) -> WorkerHandle:
        """The worker, a :class:`WorkerHandle` (its name, ``terminate()`` to end it, PyScript's object as ``js``)."""
        return self._connection.link.handle

    @property
    def workerName(self) -> str:
        """The name of the worker."""
        return self._connection.name

    def __getattr__(self, name: str) -> Callable[..., Call[Any]]:
        if name.startswith("_") or name not in self.functions:
            exported = ", ".join(self.functions) or "nothing"
            raise AttributeError(f"worker {self.workerName!r} exports no function {name!r}; it exports {exported}")

        def call(*args: Any, **kwargs: Any) -> Call[Any]:
            request = protocol.Request(protocol.OP_FUNCTION, name, args, kwargs)
            return self._connection.call(request, f"{name}() on worker {self.workerName!r}")

        call.__name__ = call.__qualname__ = name
        return call

    async def close(self) -> None:
        """Release the connection; later calls raise :class:`~workerlib.WorkerClosedError`."""
        await self._connection.close()

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        exported = ", ".join(self.functions) or "nothing"
        return f"<Worker {self.workerName!r} exporting {exported}{_clientState(self._connection)}>"
