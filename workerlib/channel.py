"""The channel seam: one end of a two-way connection between two threads, carrying frames.

A :class:`Channel` sends frames (:mod:`workerlib.protocol`) and hands the frames of each message it receives to
whoever owns it (a client's link on the main thread, a server session in a worker). The first frame of a turn of the
event loop leaves at once; the rest of the turn's frames leave together as one message, a batch. The rest of
workerlib talks only to this class and never looks behind it.

Two implementations: :class:`workerlib.ports.PortChannel`, one end of a browser ``MessageChannel``; and
:class:`workerlib.testing.LoopbackChannel`, two ends in one thread for plain CPython.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from . import codec, protocol
from .errors import ProtocolError, WorkerClosedError
from .protocol import Frame

log = logging.getLogger("workerlib.channel")

type OnFrames = Callable[[list[Frame]], None]
type OnMalformed = Callable[[ProtocolError, list[Frame]], None]


class Channel:
    """One end of a connection between two threads: frames out, batches of frames in.

    :meth:`send` sends a frame: the first frame of a turn of the event loop leaves at once, alone; the frames sent
    after it in the same turn are queued and leave together as one message when the turn ends (or at once with
    :meth:`flush`), so a lone call waits for nothing and the calls of an ``asyncio.gather`` leave in two messages.
    Frames sent while a received message is being handled leave together when its handling ends.

    The owner sets :attr:`onFrames`, called with the frames of each message received, and :attr:`onMalformed`,
    called with the error and the frames that could be read (none, when the batch itself is malformed) when a message
    cannot be handled, a batch of another protocol version among them, and :attr:`onSendFailed`, called with the
    frames of a message the browser refused to post: those carrying JavaScript values (the rest are sent again), or
    all of them when none did. Counters of messages and frames both ways are kept for tests and diagnostics.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.onFrames: OnFrames = self._unowned
        self.onMalformed: OnMalformed = self._reportMalformed
        self.onSendFailed: Callable[[list[Frame], Exception], None] = self._reportSendFailed
        self.onPeerDied: Callable[[str], None] = self._reportPeerDied
        self.closed = False
        self.sentMessages = 0
        self.sentFrames = 0
        self.receivedMessages = 0
        self.receivedFrames = 0
        self._outbox: list[Frame] = []
        self._turnOpen = False
        """A frame left at once in this turn of the loop; later ones wait for the turn's end (:meth:`_endTurn`)."""
        self._receiving = False
        """A received message is being handled: what is sent meanwhile leaves when its handling ends."""

    def attachments(self) -> codec.Attachments | None:
        """A collector for values that may travel beside one payload, or ``None`` when this channel carries none."""
        return None

    def beside(self, *, callbacks: bool = False, sendPart: protocol.PartSender | None = None) -> protocol.Beside:
        """What may travel beside one payload sent on this channel (see :class:`~workerlib.protocol.Beside`): its
        collector of JavaScript values, buffers, and with ``callbacks`` a list for the callables a request passes."""
        return protocol.Beside(self.attachments(), [], [] if callbacks else None, sendPart)

    def send(self, frame: Frame) -> None:
        """Send ``frame``: at once if it is the first of this turn of the event loop, else with the turn's others."""
        if self.closed:
            raise WorkerClosedError(f"the channel to {self.name!r} is closed")
        self._outbox.append(frame)
        self._sent()

    def sendAll(self, frames: list[Frame]) -> None:
        """Send ``frames`` together, as :meth:`send` sends one (a ``client.map``'s calls: one message)."""
        if self.closed:
            raise WorkerClosedError(f"the channel to {self.name!r} is closed")
        self._outbox.extend(frames)
        self._sent()

    def _sent(self) -> None:
        if self._receiving or self._turnOpen:
            return  # leaves when the message's handling or the turn ends
        # The first frames of a turn leave now; the turn's end is scheduled after, so their message is on its way
        # first. Until then, frames queue: the tasks of an asyncio.gather all send before the turn ends.
        self._turnOpen = True
        self.flush()
        try:
            self._scheduleEndTurn()
        except BaseException:
            self._turnOpen = False  # nothing will end the turn: the next frame must leave at once again
            raise

    def _endTurn(self) -> None:
        self._turnOpen = False
        if self._outbox:
            self.flush()

    def flush(self) -> None:
        """Send the queued frames now, as one message (several, when more than ``protocol.MAX_BATCH_FRAMES`` are
        queued: the receiver refuses a longer batch)."""
        queued, self._outbox = self._outbox, []
        limit = protocol.MAX_BATCH_FRAMES
        if len(queued) <= limit:  # nearly always: no slicing on the hot path
            self._flushBatch(queued)
            return
        for start in range(0, len(queued), limit):
            self._flushBatch(queued[start : start + limit])

    def _flushBatch(self, frames: list[Frame]) -> None:
        if not frames or self.closed:
            return
        self.sentMessages += 1
        self.sentFrames += len(frames)
        try:
            self._post(protocol.packBatch(frames))
        except Exception as error:  # JavaScript refused the message (a DataCloneError): nothing of it was sent
            refused = [frame for frame in frames if frame.attached]  # only attached JavaScript values can be refused
            if refused:
                for frame in frames:
                    if not frame.attached:
                        self.send(frame)  # not to blame: goes again, in the next message
            self.onSendFailed(refused or frames, error)

    def _scheduleEndTurn(self) -> None:
        # After the callbacks already queued: the tasks of an asyncio.gather all send before the turn ends.
        asyncio.get_event_loop().call_soon(self._endTurn)

    @property
    def canInterrupt(self) -> bool:
        """Whether :meth:`interrupt` can stop a sync call that is running on the other end; on the worker's end,
        whether :meth:`interruptible` marks the code it wraps (else it is a null context, fixed when the channel is
        made)."""
        return False

    def interrupt(self, ident: int) -> None:
        """Main thread: the caller gave up on request ``ident``: the worker must not start it, and a sync method
        running it is interrupted.

        The worker cannot read a frame while a sync method runs, so this goes around the channel: where the page is
        cross-origin isolated, through a buffer shared with the worker (see :class:`PortChannel`). The request is
        marked cancelled there at once, before its ``CANCEL`` frame is sent; the interrupt itself fires one turn of
        the event loop later, after the other cancellations made in this turn (the rest of an ``asyncio.gather``)
        are marked too, so the worker never starts a call queued behind the one it stops. Elsewhere it does nothing:
        the method runs to its end, and the worker learns of the cancellation from the ``CANCEL`` frame.
        """

    def wasCancelled(self, ident: int) -> bool:
        """Worker: whether the main thread marked request ``ident`` cancelled (:meth:`interrupt`); the mark is taken.

        Asked before a request starts (a marked one never does) and when its ``CANCEL`` frame arrives.
        """
        return False

    def interruptible(self, ident: int) -> contextlib.AbstractContextManager[Any]:
        """Worker: mark sync Python code run for request ``ident``, which :meth:`interrupt` may then stop."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Stop sending and receiving; frames still queued are dropped."""
        self.closed = True
        self._outbox = []

    def _post(self, batch: protocol.Batch) -> None:
        raise NotImplementedError

    def _receive(self, data: bytes, separate: Sequence[bytes] = (), attached: Sequence[Any] = ()) -> None:
        """Hand the frames of one received message to the owner; never raises into the caller (an event handler)."""
        if self.closed:
            return
        self.receivedMessages += 1
        try:
            version, frames = protocol.unpackBatch(data, separate, attached)
        except ProtocolError as error:
            self.onMalformed(error, [])
            return
        if version != protocol.VERSION:
            # The layout of a batch is the same in every version, so its frames can still be answered.
            self.onMalformed(
                ProtocolError(
                    f"received a batch of protocol version {version}; this side speaks version {protocol.VERSION}: "
                    f"load the same workerlib on the main thread and in the worker"
                ),
                frames,
            )
            return
        self.receivedFrames += len(frames)
        self._receiving = True
        try:
            self.onFrames(frames)
        except Exception:  # a bug on this side: report it, and keep the channel usable
            log.exception("handling frames received from %r failed", self.name)
        finally:
            self._receiving = False
        if self._outbox and not self.closed:
            self.flush()  # what handling the message sent (the replies of sync methods): one message, now

    def _unowned(self, frames: list[Frame]) -> None:
        log.warning("dropping %d frames from %r: nobody owns this channel end", len(frames), self.name)

    def _reportPeerDied(self, reason: str) -> None:
        log.error("the other end of channel %r lost its Python interpreter: %s", self.name, reason)

    def _reportSendFailed(self, frames: list[Frame], error: Exception) -> None:
        log.error("could not send %d frames to %r: %s: %s", len(frames), self.name, type(error).__name__, error)

    def _reportMalformed(self, error: ProtocolError, frames: list[Frame]) -> None:
        log.warning("dropping a message from %r: %s", self.name, error)
