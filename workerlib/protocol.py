"""The message protocol: one request payload from main to worker, one reply payload back.

A request is ``(operation, target, args, kwargs)``; ``operation`` is one of the ``OP_*`` names below and
``target`` says what to run. A reply is ``(True, result)`` or ``(False, RemoteFailure)``. Both are encoded with
:mod:`workerlib.codec`, so requests and replies follow the same rules as the values they carry.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from . import codec
from .errors import ProtocolError, RemoteError

DISPATCHER_NAME = "workerlib_dispatch"
"""The one function a workerlib worker exposes to PyScript; every call goes through it."""

OP_DESCRIBE = "describe"
"""What does this worker serve? Target and arguments are ignored."""
OP_CALL = "call"
"""Call a service method; the target is a :class:`ServiceTarget`."""
OP_FUNCTION = "function"
"""Call a function registered with ``export``; the target is its name."""


@dataclass(frozen=True)
class ServiceTarget:
    """A method of a service class, named the way both sides can agree on."""

    qualname: str
    module: str
    method: str


@dataclass(frozen=True)
class Request:
    """One call, as it travels."""

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

    def serves(self, qualname: str) -> bool:
        return any(qualname in implemented for _, _, implemented in self.services)


@dataclass(frozen=True)
class RemoteFailure:
    """What a worker sends back instead of a result.

    The exception travels as a payload of its own, so a class this side cannot rebuild still leaves the type name,
    message and traceback to build a :class:`RemoteError` from.
    """

    exception: bytes | None
    typeName: str
    message: str
    tracebackText: str

    @classmethod
    def capture(cls, error: BaseException) -> RemoteFailure:
        """Describe ``error``, with the exception object itself encoded when it can cross."""
        kind = type(error)
        try:
            encoded: bytes | None = codec.encode(error, where="exception")
        except Exception:
            encoded = None
        return cls(
            exception=encoded,
            typeName=f"{kind.__module__}.{kind.__qualname__}",
            message=str(error),
            tracebackText="".join(traceback.format_exception(error)),
        )

    def rebuild(self, where: str) -> BaseException:
        """The exception to raise on this side, with the worker's traceback attached as a note naming ``where``."""
        error: BaseException | None = None
        if self.exception is not None:
            try:
                decoded = codec.decode(self.exception)
                error = decoded if isinstance(decoded, BaseException) else None
            except codec.DecodeError:
                error = None
        if error is None:
            error = RemoteError(self.typeName, self.message, self.tracebackText)
        error.add_note(f"Raised in {where}; the worker's traceback:\n{self.tracebackText.rstrip()}")
        return error


def encodeRequest(request: Request) -> bytes:
    """Encode a request; an argument that cannot cross raises ``TypeError`` naming it, before anything is sent."""
    kwargs = request.kwargs or {}
    try:
        return codec.encode((request.operation, request.target, request.args, kwargs))
    except codec.UnsendableError:
        # Encode the parts alone to raise the error with its path from the caller's view: args[1]['points'][3].
        codec.encode(request.args, where="args")
        codec.encode(kwargs, where="kwargs")
        raise


def decodeRequest(payload: bytes) -> Request:
    """Decode a request, checking its shape, or raise :class:`ProtocolError` saying what is wrong with it."""
    message = codec.decode(payload)
    if not (isinstance(message, tuple) and len(message) == 4):
        raise ProtocolError(f"a request must be a 4-tuple (operation, target, args, kwargs), got {_describe(message)}")
    operation, target, args, kwargs = message
    if operation not in (OP_DESCRIBE, OP_CALL, OP_FUNCTION):
        raise ProtocolError(f"unknown operation {operation!r}; expected one of {OP_DESCRIBE}, {OP_CALL}, {OP_FUNCTION}")
    if operation == OP_CALL and not isinstance(target, ServiceTarget):
        raise ProtocolError(f"a call's target must be a ServiceTarget, got {_describe(target)}")
    if operation == OP_FUNCTION and not isinstance(target, str):
        raise ProtocolError(f"a function call's target must be a name, got {_describe(target)}")
    if not isinstance(args, tuple) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ProtocolError(
            f"a request needs args as a tuple and kwargs as a dict of str, got {_describe(args)}, {_describe(kwargs)}"
        )
    return Request(operation, target, args, kwargs)


def encodeReply(ok: bool, value: Any) -> bytes:
    """Encode a reply: a result when ``ok``, else a :class:`RemoteFailure`."""
    try:
        return codec.encode((ok, value))
    except codec.UnsendableError:
        codec.encode(value, where="return value" if ok else "exception")
        raise


def decodeReply(payload: bytes) -> tuple[bool, Any]:
    """Decode a reply, checking its shape."""
    message = codec.decode(payload)
    if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], bool)):
        raise ProtocolError(f"a reply must be a 2-tuple (ok, value), got {_describe(message)}")
    if not message[0] and not isinstance(message[1], RemoteFailure):
        raise ProtocolError(f"a failed reply must carry a RemoteFailure, got {_describe(message[1])}")
    return message[0], message[1]


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__qualname__} {text[:80]}{'...' if len(text) > 80 else ''}"
