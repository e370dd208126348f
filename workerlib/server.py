"""The worker side: which services and functions this worker serves, and the dispatcher that runs calls.

Nothing here touches JavaScript; :mod:`workerlib.transport` hands the dispatcher payload bytes and posts its reply.
Every failure, from a malformed payload to an exception in a service method, becomes a reply: the dispatcher never
raises, so one bad call cannot stop the worker from serving the next.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from typing import Any

from . import protocol, transport
from ._runtime import clock
from .decorators import typechecked
from .errors import ProtocolError
from .protocol import RemoteFailure


class ServiceTable:
    """Service classes defined in this worker, their lazily made instances, and exported functions."""

    def __init__(self) -> None:
        self.classes: list[type] = []
        self.instances: dict[type, object] = {}
        self.functions: dict[str, Callable[..., Any]] = {}
        self._implementations: dict[tuple[str, str], type] = {}

    def addClass(self, cls: type) -> None:
        self.classes.append(cls)
        self._implementations.clear()

    def addFunction(self, function: Callable[..., Any]) -> None:
        name = getattr(function, "__name__", None)
        if not callable(function) or not isinstance(name, str):
            raise TypeError(f"export() takes functions, got {function!r}")
        self.functions[name] = function

    def describe(self, lifeLock: str | None = None) -> protocol.Description:
        return protocol.Description(
            services=tuple(
                (cls.__module__, cls.__qualname__, tuple(base.__qualname__ for base in _serviceBases(cls)))
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
        found = self._implementations.get((qualname, module))
        if found is None:
            found = self._implementations[qualname, module] = self._findImplementation(qualname, module)
        return found

    def _findImplementation(self, qualname: str, module: str) -> type:
        implementing = [cls for cls in self.classes if any(b.__qualname__ == qualname for b in _serviceBases(cls))]
        exact = [
            cls
            for cls in implementing
            if any(b.__qualname__ == qualname and b.__module__ == module for b in _serviceBases(cls))
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

    def instance(self, cls: type) -> object:
        if cls not in self.instances:
            instance = cls()
            if getattr(cls, "_typechecked", False):
                # Shadow each public method on the instance with its checked version, made once.
                for name, function in publicMethods(cls, _workerService()).items():
                    vars(instance)[name] = typechecked(function).__get__(instance, cls)
            self.instances[cls] = instance
        return self.instances[cls]


def _workerService() -> type:
    from .service import WorkerService  # service imports server; a module-level import would be circular

    return WorkerService


def _serviceBases(cls: type) -> list[type]:
    stop = _workerService()
    return [base for base in cls.__mro__ if issubclass(base, stop) and base is not stop]


table = ServiceTable()


@cache
def publicMethods(service: type, stop: type) -> dict[str, Callable[..., Any]]:
    """The service's public methods (no leading underscore), inherited ones included, up to ``stop``.

    Cached: classes are complete once defined, and every call looks its method up here. Do not mutate the result.
    """
    found: dict[str, Callable[..., Any]] = {}
    for cls in reversed(service.__mro__):
        if cls is object or issubclass(stop, cls):
            continue
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            if inspect.isfunction(member):
                found[name] = member
            elif name in found:
                del found[name]  # overridden by something that is not a method
    return found


def publicMethod(instance: object, name: str) -> Callable[..., Any]:
    """The bound public method ``name`` of a service instance, or :class:`ProtocolError` if it is not one."""
    cls = type(instance)
    methods = publicMethods(cls, _workerService())  # type: ignore[arg-type]  # mypy sees type[object] as unhashable
    if name not in methods:
        served = ", ".join(methods) or "none"
        raise ProtocolError(f"service {cls.__qualname__} has no public method {name!r} (public methods: {served})")
    return getattr(instance, name)  # type: ignore[no-any-return]


async def run(request: protocol.Request) -> Any:
    """Carry out one decoded request and return its result; exceptions propagate to :func:`dispatch`."""
    if request.operation == protocol.OP_DESCRIBE:
        return table.describe(await transport.lifeLock())
    if request.operation == protocol.OP_FUNCTION:
        function = table.functions.get(request.target)
        if function is None:
            exported = ", ".join(sorted(table.functions)) or "nothing"
            raise ProtocolError(f"this worker exports no function {request.target!r}; it exports {exported}")
    else:
        target: protocol.ServiceTarget = request.target
        cls = table.implementation(target.qualname, target.module)
        function = publicMethod(table.instance(cls), target.method)
    result = function(*request.args, **(request.kwargs or {}))
    if inspect.isawaitable(result):
        result = await result
    return result


async def dispatch(payload: bytes) -> bytes:
    """Decode a request, run it, and encode the reply: a result, or the exception that stopped it.

    Never raises: whatever goes wrong becomes a failure reply, so the worker keeps serving.
    """
    now = clock()
    received = started = now()
    try:
        request = await protocol.decodeRequest(payload)
        started = now()
        result = await run(request)
    except BaseException as error:  # SystemExit from a method included: the worker must stay up
        return await _failureReply(error, protocol.Stamps(received, started, now()))
    stamps = protocol.Stamps(received, started, now())
    try:
        return await protocol.encodeReply(True, result, stamps)
    except Exception as error:  # an unsendable result, or an adapter that failed to encode it
        return await _failureReply(error, stamps)


async def dispatchMessage(message: Any) -> bytes:
    """The dispatcher PyScript calls: ``message`` is what the main thread posted, normally a ``Uint8Array``."""
    try:
        payload = transport.payloadFromJs(message)
    except TypeError as error:
        return await _failureReply(ProtocolError(str(error)), None)
    return await dispatch(payload)


async def _failureReply(error: BaseException, stamps: protocol.Stamps | None) -> bytes:
    return await protocol.encodeReply(False, await RemoteFailure.capture(error), stamps)
