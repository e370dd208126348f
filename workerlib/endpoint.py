"""What both ends of a channel share: the channel, the parts sent ahead, the refusal log, and frames handled by table.

Each end (the main thread's :class:`~workerlib.client.Link`, the worker's :class:`~workerlib.server.Session`) handles
a frame kind with one method, marked with :func:`handles` right where it is written; the class's table of handlers is
built from those marks when the class is made. :meth:`Endpoint.received` looks each frame of a message up in that
table, and a kind the end has no handler for gets the one answer every end gives (:meth:`Endpoint.unhandled`): a
fixed refusal, so nothing on the other side waits for ever. Adding a frame kind is a member of
:class:`~workerlib.protocol.FrameKind`, a handler on the end that receives it, and a new protocol version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from . import protocol
from .channel import Channel
from .errors import ProtocolError
from .protocol import Frame, FrameKind

Handler = Callable[[Any, Frame], None]
"""A method handling one frame: ``handler(end, frame)``."""

_H = TypeVar("_H", bound=Handler)

_KINDS = "__workerlibFrameKinds__"  # where handles() marks a method with the kinds it handles


def handles(*kinds: FrameKind) -> Callable[[_H], _H]:
    """Mark a method of an :class:`Endpoint` subclass as the handler of frames of ``kinds``."""

    def mark(method: _H) -> _H:
        setattr(method, _KINDS, kinds)
        return method

    return mark


class Endpoint:
    """One end of a channel: see the module."""

    handlers: ClassVar[dict[int, Handler]] = {}
    """The handler of each frame kind this end receives, built from its :func:`handles` marks."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(cls.handlers)  # a subclass inherits its bases' handlers, and may replace them
        for member in vars(cls).values():
            for kind in getattr(member, _KINDS, ()):
                table[int(kind)] = member
        cls.handlers = table

    def __init__(self, channel: Channel, peer: str, log: logging.Logger) -> None:
        self.channel = channel
        self.peer = peer
        """Who is on the other end, for messages: ``worker 'name'`` or ``the main thread``."""
        self.parts = protocol.PartsAhead()
        """The parts that arrived ahead of their payloads, by id (see ``FrameKind.PART``)."""
        self.refusals = protocol.RefusalLog(log, peer)
        """Frames of the peer's refused as malformed or past a limit, logged coalesced."""
        channel.onFrames = self.received

    def received(self, frames: list[Frame]) -> None:
        """Handle the frames of one message in order, each by its kind's handler (what they send leaves together
        when the message is handled: see :class:`~workerlib.channel.Channel`)."""
        handlers = self.handlers
        for frame in frames:
            handler = handlers.get(frame.kind)
            if handler is None:
                self.unhandled(frame)
            else:
                handler(self, frame)

    def unhandled(self, frame: Frame) -> None:
        """A frame of a kind this end does not handle: logged (coalesced), and answered with a fixed refusal when it
        names something of the peer's that would otherwise wait for ever."""
        error = ProtocolError(
            f"{self.peer} sent a frame of {protocol.kindName(frame.kind)} (id {frame.id}), which this side does not "
            f"handle (workerlib protocol version {protocol.VERSION})"
        )
        self.refusals.refuse(error)
        if self.answers(frame):
            self.channel.send(Frame(FrameKind.REPLY, frame.id, self.refusal(frame)))

    def answers(self, frame: Frame) -> bool:
        """Whether an unhandled ``frame`` gets a refusal as its reply (an answer is never answered)."""
        return frame.kind not in (FrameKind.REPLY, FrameKind.CALLBACK_REPLY)

    def refusal(self, frame: Frame) -> bytes:
        """The reply to an unhandled ``frame``: the ``ProtocolError`` naming its kind, encoded once per kind."""
        return protocol.unhandledRefusal(frame.kind)
