"""Exceptions workerlib raises, and the packing of a worker's exception for the trip back to the main thread."""

from __future__ import annotations

from typing import Any


class WorkerlibError(Exception):
    """Base class of the errors workerlib itself raises."""


class ConnectError(WorkerlibError, LookupError):
    """No worker, or more than one, matches a ``connect`` request; the message lists the workers found."""


class ProtocolError(WorkerlibError):
    """A message between main and worker was malformed, or named a service or method that does not exist."""


class WorkerClosedError(WorkerlibError, ConnectionError):
    """The client was closed, or its worker terminated, so no call can reach the worker any more."""


class AdapterError(WorkerlibError):
    """An adapter's ``encode`` or ``decode`` raised; the message names the adapter and the value's place.

    The adapter's own exception is the ``__cause__``; ``adapter`` is the :class:`~workerlib.Adapter` that failed.
    """

    def __init__(self, message: str, *, adapter: Any = None) -> None:
        super().__init__(message)
        self.adapter = adapter

    def __reduce__(self) -> tuple[Any, ...]:
        # The adapter object itself does not cross (the message names it); notes and other attributes do.
        state = {name: value for name, value in vars(self).items() if name != "adapter"}
        return (type(self), (str(self),), state or None)


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

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its three fields, so a RemoteError can cross again (a worker passing on another's failure).
        state = {name: value for name, value in vars(self).items() if name not in self._FIELDS}
        return (type(self), (self.remoteType, self.message, self.remoteTraceback), state or None)

    _FIELDS = frozenset({"remoteType", "message", "remoteTraceback"})
