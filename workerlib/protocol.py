"""The protocol: frames, the batches they travel in, and the payloads of requests and replies.

Main thread and worker exchange *messages* on a channel (:mod:`workerlib.channel`). A message is a *batch*: every
frame one side had ready in one turn of its event loop. A frame is ``(kind, id, payload, attached, buffers)``:
``kind`` is one of :class:`FrameKind`, ``id`` ties a reply (or a cancel, a stream item...) to its request, ``payload``
is bytes made by :mod:`workerlib.codec`, ``attached`` are the JavaScript values that travel beside the payload and
``buffers`` the large ``bytes`` and ``bytearray`` arguments (or result) that travel beside it in buffers of their own.

A batch is one binary header followed by the payloads, all little-endian::

    b"WLB" | u8 version | u32 frame count
    per frame: u8 kind | u8 flags | u32 id | u32 attached count | u32 buffer count | u64 payload length
    the payloads of the frames without FLAG_SEPARATE, in frame order

A payload of :data:`SEPARATE_ABOVE` bytes or more travels in a buffer of its own beside the batch (``FLAG_SEPARATE``),
so it is copied once into JavaScript and once out of it, never gathered into the batch first; after it come the
frame's own buffers. The ``attached`` values of all frames travel as one list, in frame order. An argument (or a
result) that is itself a ``bytes`` or ``bytearray`` of :data:`SEPARATE_ABOVE` bytes or more is not pickled at all: it
is copied once into a JavaScript buffer of its own, which moves, and once out of it on the other side.

A request's payload is ``(operation, target, args, kwargs)``; ``operation`` is one of the ``OP_*`` names below and
``target`` says what to run (a service method travels as the three strings of its :class:`ServiceTarget`). A reply's
is ``(True, result, stamps)`` or ``(False, RemoteFailure, stamps)``, the stamps (three floats, see :class:`Stamps`)
timing the call in the worker. Only built-in types travel on the hot path, the pickler's fastest.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import pickle
import re
import struct
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from . import codec, nesting
from .errors import AdapterError, CallbackExpiredError, DecodeError, ProtocolError, RemoteError

VERSION = 5
"""The protocol version this workerlib speaks; both sides of a channel must speak the same (2: streams, callbacks;
3: lists sent ahead in parts; 4: parts sent as trees; 5: payloads in the encoder's grammar only, dates and times as
their fields)."""


class FrameKind(IntEnum):
    """What a frame carries. A receiver answers a kind it does not handle with a :class:`ProtocolError` reply."""

    REQUEST = 1
    """Main to worker: run something (payload: a request, see :func:`encodeRequest`)."""
    REPLY = 2
    """Worker to main, or back for a callback: the outcome of the request with the same id (see :func:`encodeReply`)."""
    STREAM_ITEM = 3
    """Worker to main: one item the stream of request ``id`` produced (payload: a reply carrying the item)."""
    STREAM_END = 4
    """Worker to main: the stream of request ``id`` is over (payload: a reply, ``None`` or the generator's failure)."""
    CANCEL = 5
    """Main to worker: the caller gave up on the request (or stream) with this id (empty payload); no reply follows."""
    CALLBACK_CALL = 6
    """Worker to main: call a callable passed as an argument (payload: an ``OP_CALLBACK`` request; the id is the
    worker's own)."""
    CALLBACK_REPLY = 7
    """Main to worker: the outcome of the callback call with this id (payload: a reply)."""
    STREAM_PULL = 8
    """Main to worker: the consumer of stream ``id`` took more items (payload: their count, u32): the worker may run
    that many further ahead."""
    PART = 9
    """Either way, ahead of the ``REQUEST`` or ``REPLY`` with the same id: a slice of a long list that payload holds
    (payload: see :func:`workerlib.codec.encodePart`). The receiver decodes each part as it arrives, while the sender
    encodes the next, and the payload then takes the list they built (see :data:`SPLIT_ABOVE`)."""


FLAG_SEPARATE = 1
"""The frame's payload travels in a buffer of its own beside the batch."""
SEPARATE_ABOVE = 64 * 1024
"""Payloads at least this long travel in a buffer of their own."""
BATCH_MAGIC = b"WLB"
_BATCH_HEADER = struct.Struct("<3sBI")
_FRAME_HEADER = struct.Struct("<BBIIIQ")
_ONE_FRAME = struct.Struct("<3sBIBBIIIQ")  # a batch of one frame: both headers, read and written at once
assert _ONE_FRAME.size == _BATCH_HEADER.size + _FRAME_HEADER.size
MAX_ID = 2**32 - 1
MAX_BATCH_FRAMES = 1024
"""The most frames one batch may hold. A receiver refuses a batch announcing more as a whole, before reading any of
its frames, and tells the sender once; a sender splits a longer queue into several batches (``Channel.flush``), so
an honest batch never has more. It bounds the work one message makes the receiver do in one turn of its loop."""


@dataclass(slots=True)
class Frame:
    """One unit of the protocol: see the module's docstring."""

    kind: int
    id: int
    payload: bytes | memoryview = b""
    attached: Sequence[Any] = ()
    """Values travelling beside the payload (JavaScript objects), referred to from it by index."""
    transfer: Sequence[Any] = field(default=())
    """JavaScript objects to move rather than copy (ArrayBuffers, ports...): see ``workerlib.transfer``."""
    buffers: Sequence[Any] = ()
    """Large ``bytes``/``bytearray`` values travelling beside the payload (a channel may turn them into its own
    buffers when the frame is sent); on arrival, ``bytes``."""
    joined: codec.Joined | list[Any] | Exception | None = None
    """On arrival: what the ``PART`` frames sent ahead of this one built, the list or the error that refused a part."""


@dataclass(slots=True)
class Beside:
    """What travels beside one payload rather than inside it: made once per frame (``Channel.beside``), handed down
    to the encoder, which writes into it, and read again when the frame is made (:func:`outgoing`).

    Everything it is used for: JavaScript values the payload refers to by index, collected by the channel's
    ``attachments`` (and which of them move); large ``bytes``/``bytearray`` and packed number lists put in
    ``buffers`` of their own; the callables a request passes (``callbacks``, requests into a worker only), which
    travel as references; and ``sendPart``, which sends the parts of a long list ahead of the payload.
    """

    attachments: codec.Attachments | None = None
    buffers: list[Any] = field(default_factory=list)
    callbacks: list[Any] | None = None
    sendPart: PartSender | None = None


def outgoing(kind: int, ident: int, payload: bytes, beside: Beside | None = None) -> Frame:
    """A frame to send: ``payload`` with what travels beside it (the values its attachments collected, its
    buffers)."""
    if beside is None:
        return Frame(kind, ident, payload)
    attachments = beside.attachments
    values = getattr(attachments, "values", ())
    moved = getattr(attachments, "transfer", ())
    return Frame(kind, ident, payload, values, moved, beside.buffers)


class Batch(NamedTuple):
    """A batch as it travels: the header and small payloads, the separate payloads, attached values, transferables."""

    data: bytes
    separate: list[Any]
    attached: list[Any]
    transfer: list[Any]


def packBatch(frames: Sequence[Frame], version: int = VERSION) -> Batch:
    """Lay ``frames`` out as one batch (see the module's docstring)."""
    if len(frames) == 1:  # a lone call or reply, the most common message: its two headers packed in one go
        frame = frames[0]
        payload = frame.payload
        if not (frame.attached or frame.buffers or frame.transfer) and len(payload) < SEPARATE_ABOVE:
            head = _ONE_FRAME.pack(BATCH_MAGIC, version, 1, frame.kind, 0, frame.id, 0, 0, len(payload))
            return Batch(head + payload, [], [], [])
    headers: list[bytes | memoryview] = [_BATCH_HEADER.pack(BATCH_MAGIC, version, len(frames))]
    inline: list[bytes | memoryview] = []
    separate: list[Any] = []
    attached: list[Any] = []
    transfer: list[Any] = []
    for frame in frames:
        length = len(frame.payload)
        apart = length >= SEPARATE_ABOVE
        flags = FLAG_SEPARATE if apart else 0
        headers.append(_FRAME_HEADER.pack(frame.kind, flags, frame.id, len(frame.attached), len(frame.buffers), length))
        (separate if apart else inline).append(frame.payload)
        separate.extend(frame.buffers)
        attached.extend(frame.attached)
        transfer.extend(frame.transfer)
    return Batch(b"".join(headers + inline), separate, attached, transfer)


def unpackBatch(
    data: bytes | memoryview, separate: Sequence[bytes | memoryview] = (), attached: Sequence[Any] = ()
) -> tuple[int, list[Frame]]:
    """The version and frames of a batch; :class:`ProtocolError` saying what is wrong with a malformed one.

    Inline payloads are views into ``data``: nothing is copied.
    """
    view = memoryview(data).cast("B")
    if not (separate or attached) and len(view) >= _ONE_FRAME.size:
        # One frame with nothing beside it, read in one go; anything else, or anything amiss, takes the full path.
        magic, version, count, kind, flags, ident, attachedCount, bufferCount, length = _ONE_FRAME.unpack_from(view)
        if (
            magic == BATCH_MAGIC
            and count == 1
            and flags == attachedCount == bufferCount == 0
            and length == len(view) - _ONE_FRAME.size
        ):
            return version, [Frame(kind, ident, view[_ONE_FRAME.size :])]
    try:
        magic, version, count = _BATCH_HEADER.unpack_from(view, 0)
    except struct.error:
        raise ProtocolError(f"malformed batch: {len(view)} bytes, too short for a batch header") from None
    if magic != BATCH_MAGIC:
        raise ProtocolError(f"malformed batch: it starts with {bytes(magic)!r}, not {BATCH_MAGIC!r}")
    if count > MAX_BATCH_FRAMES:
        raise ProtocolError(
            f"malformed batch: it announces {count} frames, more than MAX_BATCH_FRAMES ({MAX_BATCH_FRAMES}); "
            f"the whole batch is refused (a workerlib sender splits longer queues)"
        )
    offset = _BATCH_HEADER.size + count * _FRAME_HEADER.size
    if offset > len(view):
        raise ProtocolError(f"malformed batch: {count} frames announced in {len(view)} bytes")
    frames: list[Frame] = []
    nextSeparate = nextAttached = 0
    for index in range(count):
        kind, flags, ident, attachedCount, bufferCount, length = _FRAME_HEADER.unpack_from(
            view, _BATCH_HEADER.size + index * _FRAME_HEADER.size
        )
        if flags & FLAG_SEPARATE:
            if nextSeparate >= len(separate) or len(separate[nextSeparate]) != length:
                raise ProtocolError(
                    f"malformed batch: frame {index}'s separate payload is missing or of another length"
                )
            payload: bytes | memoryview = separate[nextSeparate]
            nextSeparate += 1
        else:
            if offset + length > len(view):
                raise ProtocolError(f"malformed batch: frame {index}'s payload runs past the end of the batch")
            payload = view[offset : offset + length]
            offset += length
        if nextAttached + attachedCount > len(attached) or nextSeparate + bufferCount > len(separate):
            raise ProtocolError(f"malformed batch: frame {index} announces more values than came with it")
        buffers = separate[nextSeparate : nextSeparate + bufferCount]
        nextSeparate += bufferCount
        frames.append(Frame(kind, ident, payload, attached[nextAttached : nextAttached + attachedCount], (), buffers))
        nextAttached += attachedCount
    if offset != len(view) or nextSeparate != len(separate) or nextAttached != len(attached):
        raise ProtocolError("malformed batch: its parts do not add up to the frames it announces")
    return version, frames


def kindName(kind: int) -> str:
    """A frame kind as messages name it: ``kind REQUEST``, or ``unknown kind 99`` for one this version does not know."""
    try:
        return f"kind {FrameKind(kind).name}"
    except ValueError:
        return f"unknown kind {kind}"


OP_DESCRIBE = "describe"
"""What does this worker serve? Target and arguments are ignored."""
OP_CALL = "call"
"""Call a service method; the target is a :class:`ServiceTarget`."""
OP_FUNCTION = "function"
"""Call a function registered with ``export``; the target is its name."""
OP_STREAM = "stream"
"""Call a service method that is a generator function; the target is a :class:`ServiceTarget`. Its items come back as
``STREAM_ITEM`` frames, then one ``STREAM_END``."""
OP_CALLBACK = "callback"
"""Worker to main: call the callable at ``index`` among those passed to request ``requestId``; the target is
``(requestId, index)``."""
OPERATIONS = (OP_DESCRIBE, OP_CALL, OP_FUNCTION, OP_STREAM, OP_CALLBACK)

STREAM_AHEAD = 32
"""How many items a stream's generator may run ahead of the consumer: the worker asks its generator for the next item
only while fewer than this many items it sent are not yet taken by the ``async for`` on the main thread."""
STREAM_PULL_EVERY = STREAM_AHEAD // 4
"""The consumer tells the worker it took items (a ``STREAM_PULL`` frame) once per this many: the window refills
long before it runs dry, so a fast consumer never waits for a pull's round trip."""
_COUNT = struct.Struct("<I")


def encodeCount(count: int) -> bytes:
    """The payload of a ``STREAM_PULL`` frame."""
    return _COUNT.pack(count)


def decodeCount(payload: bytes | memoryview) -> int:
    """Read a ``STREAM_PULL`` frame's payload, or raise :class:`ProtocolError`."""
    if len(payload) != _COUNT.size:
        raise ProtocolError(f"a stream pull must carry a 4-byte count, got {len(payload)} bytes")
    count: int = _COUNT.unpack(payload)[0]
    return count


class ServiceTarget(NamedTuple):
    """A method of a service class, named the way both sides can agree on (a plain tuple of strings on the wire)."""

    qualname: str
    module: str
    method: str


class Request(NamedTuple):
    """One call, as it travels (a tuple: one is made for every call)."""

    operation: str
    target: Any
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


@dataclass(frozen=True)
class Description:
    """A worker's answer to ``OP_DESCRIBE``."""

    services: tuple[tuple[str, str, tuple[str, ...]], ...]
    """``(module, qualname, qualnames of every service class it implements)`` per served class."""
    functions: tuple[str, ...]
    """Names registered with ``export``."""
    lifeLock: str | None = None
    """The name of a Web Lock the worker holds while it lives: released by the browser when the worker dies."""

    def serves(self, qualname: str) -> bool:
        """Whether the worker serves the service class ``qualname`` (or a subclass implementing it)."""
        return any(qualname in implemented for _, _, implemented in self.services)

    @classmethod
    def checked(cls, value: Any) -> Description:
        """``value``, a worker's answer to ``OP_DESCRIBE``, checked field by field and copied into exact tuples and
        strings; :class:`ProtocolError` naming the first field that is wrong.

        A payload can build a ``Description`` holding anything (a dataclass arrives without its checks running), and
        ``connect()`` reads the descriptions of every worker on the page: one worker's malformed answer must not
        break the search for another (see :data:`MAX_DESCRIBED` and :data:`MAX_NAME`).
        """
        if type(value) is not cls or set(vars(value)) != {"services", "functions", "lifeLock"}:
            raise ProtocolError(
                f"the answer is a {type(value).__qualname__}, not a Description of services, functions and lifeLock"
            )
        fields = vars(value)
        services: list[tuple[str, str, tuple[str, ...]]] = []
        for index, entry in enumerate(_checkedTuple(fields["services"], "services")):
            place = f"services[{index}]"
            if type(entry) is not tuple or len(entry) != 3:
                raise ProtocolError(f"{place} is a {type(entry).__qualname__}, not a (module, qualname, bases) tuple")
            module, qualname, implemented = entry
            bases = _checkedTuple(implemented, f"{place}[2]")
            services.append(
                (
                    _checkedName(module, f"{place}[0]"),
                    _checkedName(qualname, f"{place}[1]"),
                    tuple(_checkedName(base, f"{place}[2][{n}]") for n, base in enumerate(bases)),
                )
            )
        functions = tuple(
            _checkedName(name, f"functions[{n}]")
            for n, name in enumerate(_checkedTuple(fields["functions"], "functions"))
        )
        lifeLock: str | None = fields["lifeLock"]
        if lifeLock is not None and not (type(lifeLock) is str and _LIFE_LOCK.fullmatch(lifeLock)):
            raise ProtocolError(
                f"lifeLock is not None nor a name {LIFE_LOCK_PREFIX}<32 hex digits> (a {type(lifeLock).__qualname__})"
            )
        return Description(tuple(services), functions, lifeLock)


MAX_DESCRIBED = 10_000
"""The most services, functions, or service bases of one service, a :class:`Description` may list."""
MAX_NAME = 1000
"""The longest name (module, qualified name, function name) a :class:`Description` may hold, in characters."""
LIFE_LOCK_PREFIX = "workerlib-life-"
"""How the name of a worker's life lock starts; a uuid's 32 hex digits follow (see ``workers.acceptPorts``)."""
_LIFE_LOCK = re.compile(re.escape(LIFE_LOCK_PREFIX) + "[0-9a-f]{32}")


def _checkedTuple(value: Any, place: str) -> tuple[Any, ...]:
    if type(value) is not tuple:
        raise ProtocolError(f"{place} is a {type(value).__qualname__}, not a tuple")
    if len(value) > MAX_DESCRIBED:
        raise ProtocolError(f"{place} lists {len(value)} entries, more than MAX_DESCRIBED ({MAX_DESCRIBED})")
    return value


def _checkedName(value: Any, place: str) -> str:
    if type(value) is not str:
        raise ProtocolError(f"{place} is a {type(value).__qualname__}, not a str")
    if not 0 < len(value) <= MAX_NAME:
        raise ProtocolError(f"{place} is {len(value)} characters long, not 1 to MAX_NAME ({MAX_NAME})")
    return value


class Stamps(NamedTuple):
    """When the worker received a request, started running it and finished it: milliseconds on the shared clock."""

    received: float
    started: float
    finished: float


@dataclass(frozen=True)
class RemoteFailure:
    """What a worker sends back instead of a result.

    The exception travels as a payload of its own, so a class this side cannot rebuild still leaves the type name,
    message and traceback to build a :class:`RemoteError` from. ``cause`` is the failure it was raised from
    (``raise ... from``, or the exception being handled when it was raised), so chains survive the trip.
    """

    exception: bytes | None
    typeName: str
    message: str
    tracebackText: str
    cause: RemoteFailure | None = None
    explicitCause: bool = True
    """Whether ``cause`` was the ``__cause__`` (``raise ... from``) rather than the implicit ``__context__``."""

    @classmethod
    async def capture(cls, error: BaseException, depth: int = 0) -> RemoteFailure:
        """Describe ``error`` and its chain, with each exception object encoded when it can cross."""
        kind = type(error)
        try:
            encoded: bytes | None = await codec.encodeAsync(error, where="exception")
        except Exception:
            encoded = None
        if encoded is None and _tooDeepToPrint(error):
            nesting.keep((error.args, vars(error)))
            # str() and the traceback's last line would recurse through the value as deep as it goes, which is more
            # than Pyodide's stack takes: describe it without looking inside.
            return cls(
                exception=None,
                typeName=f"{kind.__module__}.{kind.__qualname__}",
                message=f"<its args or attributes nest deeper than NESTING_LIMIT ({nesting.NESTING_LIMIT}) levels>",
                tracebackText="".join(traceback.format_tb(error.__traceback__)),
            )
        linked = error.__cause__ if error.__cause__ is not None else error.__context__
        explicit = error.__cause__ is not None
        if error.__suppress_context__ and not explicit:
            linked = None
        return cls(
            exception=encoded,
            typeName=f"{kind.__module__}.{kind.__qualname__}",
            message=str(error),
            # The chain's exceptions are formatted here too; one too deep to print is left to its own capture.
            tracebackText="".join(traceback.format_exception(error, chain=depth == 0 and _printableChain(error))),
            # A chain that loops back on itself would never end; real chains are a few links long.
            cause=await cls.capture(linked, depth + 1) if linked is not None and depth < MAX_CHAIN else None,
            explicitCause=explicit,
        )

    def wellFormed(self, depth: int = 0) -> bool:
        """Whether every field has its declared type, down the chain: a payload can build one with anything in it."""
        fields = vars(self)
        return (
            set(fields) == {"exception", "typeName", "message", "tracebackText", "cause", "explicitCause"}
            and isinstance(self.exception, (bytes, type(None)))
            and all(isinstance(fields[name], str) for name in ("typeName", "message", "tracebackText"))
            and isinstance(self.explicitCause, bool)
            and (
                self.cause is None
                or (isinstance(self.cause, RemoteFailure) and depth < MAX_CHAIN and self.cause.wellFormed(depth + 1))
            )
        )

    async def rebuild(self, where: str) -> BaseException:
        """The exception to raise on this side, with the worker's traceback attached as a note naming ``where``.

        An exception that was rebuilt but cannot take that note (its ``__notes__`` arrived as something other than a
        list: a payload can hold any state) is replaced by a :class:`RemoteError` with the same type name, message,
        traceback and chain: the caller gets the worker's failure, never a ``TypeError`` of the rebuilding.
        """
        note = f"Raised in {where}; the worker's traceback:\n{self.tracebackText.rstrip()}"
        error = await self._rebuildOne()
        try:
            error.add_note(note)
        except Exception:
            error = self._remoteError(error)
            error.add_note(note)
        return error

    async def _rebuildOne(self) -> BaseException:
        error: BaseException | None = None
        if self.exception is not None:
            try:
                decoded = await codec.decodeAsync(self.exception)
                # Only an Exception is raised as itself: a worker's SystemExit or KeyboardInterrupt must not end
                # this thread's program, so those (and anything not an exception) arrive as RemoteError.
                error = decoded if isinstance(decoded, Exception) and _notesFit(decoded) else None
            except Exception:
                error = None
        if error is None:
            error = RemoteError(self.typeName, self.message, self.tracebackText)
        if self.cause is not None:
            linked = await self.cause._rebuildOne()
            try:
                _link(error, linked, self.explicitCause)
            except Exception:  # an exception whose chain cannot be set: the worker's failure as a RemoteError
                error = RemoteError(self.typeName, self.message, self.tracebackText)
                _link(error, linked, self.explicitCause)
        return error

    def _remoteError(self, rebuilt: BaseException) -> RemoteError:
        """This failure as a :class:`RemoteError`, keeping the chain ``rebuilt`` was given."""
        error = RemoteError(self.typeName, self.message, self.tracebackText)
        error.__cause__, error.__context__ = rebuilt.__cause__, rebuilt.__context__
        error.__suppress_context__ = rebuilt.__suppress_context__
        return error


def _notesFit(error: BaseException) -> bool:
    """Whether ``error``'s notes, if it has any, are what ``add_note`` needs: a list of strings."""
    notes = vars(error).get("__notes__", [])
    return type(notes) is list and all(type(note) is str for note in notes)


def _link(error: BaseException, linked: BaseException, explicit: bool) -> None:
    if explicit:
        error.__cause__ = linked
    else:
        error.__context__ = linked


MAX_CHAIN = 20
"""How many chained exceptions (``__cause__``/``__context__``) travel with a failure."""


def _tooDeepToPrint(error: BaseException) -> bool:
    return nesting.exceeds((error.args, vars(error)))


def _printableChain(error: BaseException) -> bool:
    linked = error.__cause__ or error.__context__
    for _ in range(MAX_CHAIN):
        if linked is None:
            return True
        if _tooDeepToPrint(linked):
            return False
        linked = linked.__cause__ or linked.__context__
    return True


REQUEST_ENVELOPE = 2
"""Levels a request wraps an argument in: ``(operation, target, args, kwargs)``, then ``args`` itself."""


@functools.cache
def fallbackFailure() -> bytes:
    """The reply a dispatcher sends when even describing a failure failed: fixed, so it cannot fail itself."""
    failure = RemoteFailure(
        exception=None,
        typeName="workerlib.errors.ProtocolError",
        message="the call failed, and describing its failure failed too; see the worker's console",
        tracebackText="",
    )
    return codec.encode((False, failure, None))


REFUSED = "refused by the receiving thread (malformed, or past a limit); its console says why"
"""The message of every :func:`refusal`: fixed, so a refusal costs nothing to describe."""


def refusal(error: BaseException) -> bytes:
    """The reply to a frame refused before anything ran for it: fixed and encoded once per kind of error.

    A peer can send thousands of malformed frames in one message: each is answered (so nothing on its side waits for
    ever) with these same bytes, a few hundred of them, rather than a freshly captured traceback. The reason goes
    to the receiving side's log instead, coalesced (see :class:`RefusalLog`).
    """
    if isinstance(error, CallbackExpiredError):
        return _refusal("CallbackExpiredError")
    return _refusal("DecodeError" if isinstance(error, DecodeError) else "ProtocolError")


@functools.cache
def _refusal(kind: str) -> bytes:
    message = REFUSED
    if kind == "CallbackExpiredError":
        message = "the call this callback was passed to has ended on the main thread (timed out or cancelled)"
    failure = RemoteFailure(exception=None, typeName=f"workerlib.errors.{kind}", message=message, tracebackText="")
    return codec.encode((False, failure, None))


@functools.cache
def unhandledRefusal(kind: int) -> bytes:
    """The reply to a frame of a kind the receiving side does not handle: encoded once per kind (at most 256), so a
    flood of them costs nothing to answer, yet it names the kind (two sides of different versions meet here)."""
    message = (
        f"a frame of {kindName(kind)} came, which this side does not handle (workerlib protocol version {VERSION})"
    )
    exception = codec.encode(ProtocolError(message))  # rebuilt as the ProtocolError itself on the other side
    failure = RemoteFailure(exception, typeName="workerlib.errors.ProtocolError", message=message, tracebackText="")
    return codec.encode((False, failure, None))


REPORT_EVERY = 5.0
"""Seconds between two warnings a :class:`RefusalLog` writes: a flood of refused frames logs one line per this many
seconds, counting the ones it did not log, rather than one line per frame."""


class RefusalLog:
    """Warnings about the frames a peer sent that this side refused, coalesced.

    The first is logged at once; later ones within :data:`REPORT_EVERY` seconds are only counted, and the next line
    logged says how many there were. Refusing costs the peer's flood almost nothing, and the log stays readable.
    """

    def __init__(self, log: logging.Logger, peer: str) -> None:
        self.log = log
        self.peer = peer
        self.refused = 0
        """How many refusals were not logged yet."""
        self._lastLogged = -math.inf

    def refuse(self, error: BaseException) -> None:
        """Note one refused frame, and log it unless a line was logged less than :data:`REPORT_EVERY` seconds ago."""
        self.refused += 1
        now = time.monotonic()
        if now - self._lastLogged < REPORT_EVERY:
            return
        others = self.refused - 1
        since = f" ({others} more refused since the last such warning)" if others else ""
        self.log.warning("refused what %s sent: %s%s", self.peer, error, since)
        self.refused = 0
        self._lastLogged = now


def _wireTarget(target: Any) -> Any:
    # A service target travels as plain strings, never as its class: the pickler's fastest path, and nothing for the
    # receiver to look up.
    return tuple(target) if type(target) is ServiceTarget else target


def _wireTimes(stamps: Stamps | None) -> tuple[float, float, float] | None:
    return None if stamps is None else (stamps.received, stamps.started, stamps.finished)


def encodePlainRequest(request: Request) -> bytes | None:
    """The payload of a request whose arguments are a few built-in scalars, in small tuples, lists and dicts (the
    calls made most), or ``None`` for any other: then :func:`encodeRequest`.

    Nothing in such arguments can travel beside the payload or be sent ahead, and nothing in them reaches the
    encoder's reducer, so the plain pickler writes what :func:`encodeRequest` would, without its set-up. The receiver
    screens this payload as it screens any other.
    """
    args, kwargs = request.args, request.kwargs or {}
    message = (request.operation, _wireTarget(request.target), args, kwargs)
    if not codec.isSmallAndPlain(message, REQUEST_ENVELOPE + 1):
        return None
    if _anyLargeBuffer(args) or (kwargs and _anyLargeBuffer(kwargs.values())):
        return None  # a large bytes argument travels in a buffer of its own: encodeRequest puts it there
    return pickle.dumps(message, protocol=codec.PROTOCOL)


async def encodeRequest(request: Request, beside: Beside | None = None) -> bytes:
    """Encode a request; an argument that cannot cross raises ``TypeError`` naming it, before anything is sent.

    With ``beside``, what may travel beside the payload does (see :class:`Beside`): large ``bytes``/``bytearray``
    arguments and lists of numbers go in its buffers, callables among the arguments in its callbacks (when it has a
    list for them), and the first long list among the arguments may be sent ahead in parts (see
    :data:`SPLIT_ABOVE`). Without it, everything travels in the payload, or fails there.
    """
    attachments = buffers = callbacks = sendPart = None
    if beside is not None:
        attachments, buffers, callbacks, sendPart = (
            beside.attachments,
            beside.buffers,
            beside.callbacks,
            beside.sendPart,
        )
    target = _wireTarget(request.target)
    args, kwargs = request.args, request.kwargs or {}
    if buffers is not None:
        seen: dict[int, codec.OutOfBand] = {}
        if _anyLargeBuffer(args):
            args = tuple(_outOfBand(arg, buffers, seen) for arg in args)
        if kwargs and _anyLargeBuffer(kwargs.values()):
            kwargs = {name: _outOfBand(arg, buffers, seen) for name, arg in kwargs.items()}
    if sendPart is not None:
        args, kwargs = _withOneSentAhead(args, kwargs, sendPart)
    message = (request.operation, target, args, kwargs)
    try:
        return await codec.encodeAsync(
            message, where="request", attachments=attachments, envelope=REQUEST_ENVELOPE, callbacks=callbacks
        )
    except (codec.UnsendableError, AdapterError) as error:
        raise _renamed(error, {"request[2]": "args", "request[3]": "kwargs"}) from error.__cause__


def _withOneSentAhead(
    args: tuple[Any, ...], kwargs: dict[str, Any], sendPart: PartSender
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments, the first long list among them replaced by :data:`~workerlib.codec.JOINED` if it went ahead."""
    places: Iterable[tuple[int | str, Any]] = itertools.chain(enumerate(args), kwargs.items())
    for place, arg in places:
        if _isLongList(arg):
            if not _sentAhead(arg, sendPart):
                return args, kwargs
            if isinstance(place, int):
                return (*args[:place], codec.JOINED, *args[place + 1 :]), kwargs
            return args, {**kwargs, place: codec.JOINED}
    return args, kwargs


async def decodeRequest(
    payload: bytes | memoryview,
    attached: Sequence[Any] = (),
    buffers: Sequence[Any] = (),
    callback: Callable[[int], Any] | None = None,
    joined: codec.Joined | list[Any] | Exception | None = None,
) -> Request:
    """Decode a request, checking its shape, or raise :class:`ProtocolError` saying what is wrong with it.

    ``callback(index)`` makes the stand-in for a callable passed as an argument; without it none is accepted.
    ``joined``: what the parts sent ahead of the request built (see :attr:`Frame.joined`).
    """
    message = await codec.decodeAsync(
        payload, attached=attached, buffers=buffers, envelope=REQUEST_ENVELOPE, callback=callback, joined=joined
    )
    return _checkedRequest(message)


def decodePlainRequest(frame: Frame) -> Request | None:
    """:func:`decodeRequest` of a request frame that carries a few built-in values and nothing beside them (what
    :func:`encodePlainRequest` writes), decoded at once; ``None`` for any other, which :func:`decodeRequest` decodes.
    Raises as :func:`decodeRequest` does for a malformed one."""
    if frame.attached or frame.buffers or frame.joined is not None:
        return None
    found, message = codec.decodeQuick(frame.payload, REQUEST_ENVELOPE)
    return _checkedRequest(message) if found else None


def _checkedRequest(message: Any) -> Request:
    if not (isinstance(message, tuple) and len(message) == 4):
        raise ProtocolError(f"a request must be a 4-tuple (operation, target, args, kwargs), got {_shapeOf(message)}")
    operation, target, args, kwargs = message
    if operation not in OPERATIONS:
        raise ProtocolError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    if operation == OP_CALLBACK and not (
        type(target) is tuple and len(target) == 2 and type(target[0]) is int and type(target[1]) is int
    ):
        raise ProtocolError(f"a callback call's target must be (request id, index), got {_shapeOf(target)}")
    if operation in (OP_CALL, OP_STREAM):
        if not (
            type(target) is tuple
            and len(target) == 3
            and type(target[0]) is str
            and type(target[1]) is str
            and type(target[2]) is str
        ):
            raise ProtocolError(
                f"a call's target must be (service qualname, module, method) as strings, got {_shapeOf(target)}"
            )
        target = ServiceTarget(*target)
    if operation == OP_FUNCTION and not isinstance(target, str):
        raise ProtocolError(f"a function call's target must be a name, got {_shapeOf(target)}")
    if (
        not isinstance(args, tuple)
        or not isinstance(kwargs, dict)
        or (kwargs and not all(type(k) is str for k in kwargs))
    ):
        raise ProtocolError(
            f"a request needs args as a tuple and kwargs as a dict of str, got {_shapeOf(args)}, {_shapeOf(kwargs)}"
        )
    return Request(operation, target, args, kwargs)


def encodePlainReply(value: Any, stamps: Stamps | None) -> bytes | None:
    """The payload of a result that is a few built-in scalars, in small tuples, lists and dicts (what most calls
    return), or ``None`` for any other: then :func:`encodeReply`. As for :func:`encodePlainRequest`, the plain pickler
    writes what :func:`encodeReply` would, without its set-up."""
    if _isLargeBuffer(value):
        return None  # large bytes travel in a buffer of their own: encodeReply puts them there
    message = (True, value, _wireTimes(stamps))
    if codec.isSmallAndPlain(message, 3):
        return pickle.dumps(message, protocol=codec.PROTOCOL)
    return None


async def encodeReply(ok: bool, value: Any, stamps: Stamps | None = None, beside: Beside | None = None) -> bytes:
    """Encode a reply: a result when ``ok``, else a :class:`RemoteFailure`; ``stamps`` time the call.

    With ``beside`` (see :class:`Beside`), a result that is a large ``bytes``/``bytearray`` or list of numbers goes in
    its buffers, JavaScript values in its attachments, and a long list may be sent ahead in parts (see
    :data:`SPLIT_ABOVE`).
    """
    attachments = buffers = sendPart = None
    if beside is not None:
        attachments, buffers, sendPart = beside.attachments, beside.buffers, beside.sendPart
    times = _wireTimes(stamps)
    if buffers is not None and _isLargeBuffer(value):
        value = _outOfBand(value, buffers, {})
    if ok and _sentAhead(value, sendPart):
        value = codec.JOINED
    try:
        return await codec.encodeAsync((ok, value, times), where="reply", attachments=attachments, envelope=1)
    except (codec.UnsendableError, AdapterError) as error:
        raise _renamed(error, {"reply[1]": "return value" if ok else "exception"}) from error.__cause__


def decodePlainReply(frame: Frame) -> tuple[bool, Any, Stamps | None] | None:
    """:func:`decodeReply` of a reply frame that carries a few built-in values and nothing beside them (what most
    calls return), decoded at once; ``None`` for any other, which :func:`decodeReply` decodes."""
    if frame.attached or frame.buffers or frame.joined is not None:
        return None
    found, message = codec.decodeQuick(frame.payload, 1)
    return _checkedReply(message) if found else None


async def decodeReply(
    payload: bytes | memoryview,
    attached: Sequence[Any] = (),
    buffers: Sequence[Any] = (),
    joined: codec.Joined | list[Any] | Exception | None = None,
) -> tuple[bool, Any, Stamps | None]:
    """Decode a reply, checking its shape; ``joined`` as for :func:`decodeRequest`."""
    # A failure's exception travels as a payload of its own, so a reply's value sits one level down.
    return _checkedReply(
        await codec.decodeAsync(payload, attached=attached, buffers=buffers, envelope=1, joined=joined)
    )


def _checkedReply(message: Any) -> tuple[bool, Any, Stamps | None]:
    if not (isinstance(message, tuple) and len(message) == 3 and isinstance(message[0], bool)):
        raise ProtocolError(f"a reply must be a 3-tuple (ok, value, stamps), got {_shapeOf(message)}")
    ok, value, stamps = message
    if not ok and not (isinstance(value, RemoteFailure) and value.wellFormed()):
        raise ProtocolError(f"a failed reply must carry a RemoteFailure, got {_shapeOf(value)}")
    # No generator expressions on this path: each costs an object and a frame, every call.
    valid = (
        type(stamps) is tuple
        and len(stamps) == 3
        and type(stamps[0]) is float
        and type(stamps[1]) is float
        and type(stamps[2]) is float
    )
    return ok, value, Stamps(*stamps) if valid else None


SPLIT_ABOVE = 4096
"""A list of at least this many items, passed as an argument or returned, is sent ahead of its payload in parts of
:data:`PART_ITEMS` items or more (at most :data:`MAX_PARTS`): the receiver decodes each part while the sender encodes
the next, so the two threads share the work instead of taking turns. Only a list of built-in values in which nothing
is shared travels so (see :func:`workerlib.codec.encodePart`); any other goes whole, in its payload."""
PART_ITEMS = 512
MAX_PARTS = 16

MAX_OPEN_PART_IDS = 64
"""The most ids a receiver holds parts for at once (parts whose request or reply has not arrived). A part for one
more id drops the parts of the oldest, freeing them: parts cost the receiver memory until their payload claims them,
and parts for ids that never come must neither pile up nor, by filling the table, keep later calls from sending
parts. A sender sends a list whole rather than in parts while it has this many ids whose parts went ahead of a
payload not yet sent, and each payload leaves before the next id's parts (a part is flushed at once, and the outbox
with it), so an honest sender never meets the limit. At most :data:`MAX_PARTS` parts are held per id: one more
spoils that id's list, which is freed, and its payload fails."""

type PartSender = Callable[[bytes], bool]
"""Sends one ``PART`` frame now, ahead of the payload being encoded; ``False`` when it did not, which the sender may
answer only for the first part of a list (it holds :data:`MAX_OPEN_PART_IDS` ids with parts in flight already):
the list then goes whole."""


class Parts:
    """The parts sent ahead of one frame, each decoded as it arrives; a part that fails spoils the list."""

    __slots__ = ("count", "depths", "error", "items")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.error: Exception | None = None
        self.count = 0
        self.depths: list[int] = []  # each part's, as its check measured it

    def add(self, payload: bytes | memoryview, ident: int) -> ProtocolError | None:
        """Decode one part onto the list; the error refusing it when it is one more than :data:`MAX_PARTS`."""
        self.count += 1
        if self.error is not None:
            return None
        if self.count > MAX_PARTS:
            # More parts than any workerlib sender makes: the list is spoilt and its memory freed at once.
            self.error = ProtocolError(
                f"more than MAX_PARTS ({MAX_PARTS}) parts came ahead of the payload with id {ident}; "
                f"a workerlib sender sends at most that many"
            )
            self.items = []
            return self.error
        try:
            self.items += codec.decodePart(payload, self.depths)
        except Exception as error:  # a malformed part: the payload that refers to the list gets the error
            self.error, self.items = error, []
        return None

    def joined(self) -> codec.Joined | Exception:
        """The list the parts built, with how deep it nests, or the error that refused one of them."""
        return codec.Joined(self.items, max(self.depths, default=1)) if self.error is None else self.error


class PartsAhead(dict[int, Parts]):
    """The parts that arrived ahead of their payloads, by id: what a link or a session holds.

    Its owner drops an id's parts when that id's request or reply is done or failed, however that happens.
    """

    def add(self, frame: Frame) -> ProtocolError | None:
        """Decode a ``PART`` frame now, while the sender encodes the next; the error refusing it (or the parts it
        displaced) when past a limit, for the owner to log.

        A part for a new id when :data:`MAX_OPEN_PART_IDS` ids already hold parts drops those of the oldest id.
        """
        refused = None
        parts = self.get(frame.id)
        if parts is None:
            if len(self) >= MAX_OPEN_PART_IDS:
                oldest = next(iter(self))  # a dict keeps insertion order: the id waiting longest
                del self[oldest]
                refused = ProtocolError(
                    f"parts of MAX_OPEN_PART_IDS ({MAX_OPEN_PART_IDS}) ids were waiting for their payloads when a "
                    f"part came for id {frame.id}: those of id {oldest}, the oldest, were dropped, and a payload "
                    f"referring to them will fail"
                )
            parts = self[frame.id] = Parts()
        return parts.add(frame.payload, frame.id) or refused

    def claim(self, frame: Frame) -> None:
        """Give the payload frame with the parts' id what they built (:attr:`Frame.joined`), and forget them."""
        parts = self.pop(frame.id, None)
        if parts is not None:
            frame.joined = parts.joined()


def _isLongList(value: Any) -> bool:
    return type(value) is list and len(value) >= SPLIT_ABOVE


def _sentAhead(value: Any, sendPart: PartSender | None) -> bool:
    """Send ``value`` ahead in parts if it is a list that may go so (see :data:`SPLIT_ABOVE`); whether it went.

    Parts sent before one that may not go are left to the receiver, which drops them with the payload's arrival.
    """
    if sendPart is None or not _isLongList(value):
        return False
    size = max(PART_ITEMS, -(-len(value) // MAX_PARTS))
    for start in range(0, len(value), size):
        part = codec.encodePart(value[start : start + size])
        if part is None or not sendPart(part):
            return False
    return True


def _anyLargeBuffer(values: Iterable[Any]) -> bool:
    for value in values:  # noqa: SIM110 - a plain loop: any() over a generator costs more, every call
        if _isLargeBuffer(value):
            return True
    return False


NUMBERS_ABOVE = 1024
"""A list of at least this many ints (each fitting 64 bits) or floats, passed as an argument or returned, travels as
the bytes of an ``array``: packed and unpacked in C, with nothing for the receiving side to screen or measure."""


def _isLargeBuffer(value: Any) -> bool:
    kind = type(value)
    if kind is list:
        return len(value) >= NUMBERS_ABOVE
    return (kind is bytes or kind is bytearray) and len(value) >= SEPARATE_ABOVE


def _outOfBand(value: Any, buffers: list[Any], seen: dict[int, codec.OutOfBand]) -> Any:
    """``value``, or the stand-in for it when it travels in a buffer of its own (once, however often it appears)."""
    if not _isLargeBuffer(value):
        return value
    marker = seen.get(id(value))
    if marker is None:
        buffer: Any = value
        if type(value) is list:
            packed = codec.packNumbers(value)
            if packed is None:
                return value
            typecode, buffer = packed
            marker = codec.OutOfBand(len(buffers), True, typecode)
        else:
            marker = codec.OutOfBand(len(buffers), type(value) is bytearray)
        seen[id(value)] = marker
        buffers.append(buffer)
    return marker


def _renamed(error: codec.UnsendableError | AdapterError, names: dict[str, str]) -> Exception:
    """The same error, its place named from the caller's view (``args[1]['points'][3]``), not the envelope's."""
    message = str(error)
    for old, new in names.items():
        message = message.replace(old, new, 1)
    if isinstance(error, AdapterError):
        return AdapterError(message, adapter=error.adapter)
    return codec.UnsendableError(message)


def _shapeOf(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a payload-built object may lack the fields its repr reads
        text = f"<unprintable: {type(error).__name__}: {error}>"
    return f"{type(value).__qualname__} {text[:80]}{'...' if len(text) > 80 else ''}"
