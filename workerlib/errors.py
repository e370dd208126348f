"""Exceptions workerlib raises, and the packing of a worker's exception for the trip back to the main thread."""

from __future__ import annotations

from typing import Any


class WorkerlibError(Exception):
    """Base class of the errors workerlib itself raises."""


class ConnectError(WorkerlibError, LookupError):
    """No worker, or more than one, matches a ``connect`` request; the message lists the workers found."""


class ConfigError(WorkerlibError, ValueError):
    """A PyScript config holds a section of the original workerlib that this one does not read (``[adapters]``,
    ``[exports]``); the message gives the Python lines to write instead."""


class ProtocolError(WorkerlibError):
    """A message between main and worker was malformed, or named a service or method that does not exist."""


class DecodeError(ProtocolError):
    """A payload could not be decoded: malformed, hostile, or naming a class this side refuses or does not have.

    The message says what was wrong and where in the payload; the thread that received it goes on serving.
    """


class UnsendableError(WorkerlibError, TypeError):
    """A value cannot cross to the other thread; the message names its type and where it sits."""


class WorkerClosedError(WorkerlibError, ConnectionError):
    """The client was closed, or its worker terminated, so no call can reach the worker any more."""


class CallbackExpiredError(WorkerlibError, RuntimeError):
    """A callback was called in a worker after the call that received it had ended.

    A callable passed as an argument stands for the main thread's callable only while that call runs; keep using it
    from a longer-lived call (a stream, a method that awaits the work it starts) instead.
    """


class AdapterError(WorkerlibError):
    """An adapter's ``encode`` or ``decode`` raised; the message names the adapter and the value's place.

    The adapter's own exception is the ``__cause__``; ``adapter`` is the :class:`~workerlib.Adapter` that failed
    (``None`` on the other side of a channel: an adapter does not cross).
    """

    adapter: Any = None

    def __init__(self, message: str, *, adapter: Any = None) -> None:
        super().__init__(message)
        self.adapter = adapter

    def __getstate__(self) -> dict[str, Any]:
        # The adapter object itself does not cross (the message names it); notes and other attributes do.
        return {name: value for name, value in vars(self).items() if name != "adapter"}


class RemoteError(WorkerlibError):
    """An exception raised in a worker whose class cannot be rebuilt on this side.

    ``remoteType`` is the original class's full name (``module.QualName``), ``message`` its ``str()``, and
    ``remoteTraceback`` the worker's formatted traceback.
    """

    def __init__(self, remoteType: str, message: str, remoteTraceback: str = "") -> None:
        super().__init__(f"{remoteType}: {message}" if message else remoteType)
        self.remoteType = remoteType
        self.message = message
        self.remoteTraceback = remoteTraceback
