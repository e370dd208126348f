"""Decorators: client methods that keep a service method's signature, and optional runtime type checking."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol


class Caller(Protocol):
    """What a client offers its methods: one way to send a call to the worker."""

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]: ...

    def _stream(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]: ...


def remoteMethod(function: Callable[..., Any], name: str, owner: str, *, streams: bool = False) -> Any:
    """A stand-in for ``function`` on a client class: calling it sends the call to the worker.

    Built with wrapt, so ``inspect.signature`` (without ``self`` once bound), ``__doc__``, ``__name__``,
    ``__qualname__``, ``__annotations__`` and ``__wrapped__`` are those of the service method. Arguments that do not
    bind to the signature raise ``TypeError`` here, before anything is sent. The call returns an awaitable of the
    method's result, whether the service method is sync or ``async``; with ``streams`` (a generator method) an async
    iterator of its items.
    """
    import wrapt  # here: only the main thread makes clients, and a worker's start need not import wrapt

    parameters = list(inspect.signature(function).parameters.values())
    signature = inspect.Signature(parameters[1:])  # the client stands in for self
    fits = _positionalFit(signature)

    @wrapt.decorator
    def forward(
        wrapped: Callable[..., Any], instance: Caller | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any] | AsyncIterator[Any]:
        if instance is None:
            raise TypeError(f"{owner}.{name}() must be called on a client returned by connect(), not on the class")
        try:
            if kwargs or not fits(len(args)):  # signature.bind is slow: only asked when the count is not enough
                signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{owner}.{name}(): {error}") from None
        return instance._stream(name, args, kwargs) if streams else instance._call(name, args, kwargs)

    return forward(function)


def _positionalFit(signature: inspect.Signature) -> Callable[[int], bool]:
    """Whether that many positional arguments alone certainly bind to ``signature``."""
    kinds = inspect.Parameter
    positional = [
        p for p in signature.parameters.values() if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(1 for p in positional if p.default is kinds.empty)
    variadic = any(p.kind is kinds.VAR_POSITIONAL for p in signature.parameters.values())
    keywordNeeded = any(
        p.kind is kinds.KEYWORD_ONLY and p.default is kinds.empty for p in signature.parameters.values()
    )
    most = float("inf") if variadic else len(positional)
    return lambda count: not keywordNeeded and required <= count <= most


def typechecked[F: Callable[..., Any]](function: F) -> F:
    """Check each call of ``function`` against its annotations with beartype when beartype is installed.

    With beartype importable this returns ``beartype.beartype(function)``: a call whose arguments (or result) do not
    match the annotations raises a ``beartype.roar.BeartypeCallHintViolation`` whose message names the parameter, for
    example ``parameter factor='two' violates type hint <class 'int'>``. Without beartype it returns ``function``
    itself, unchanged, so code decorated with it runs everywhere and is checked where beartype is installed (the
    ``typecheck`` extra: ``pip install "pyscript-workerlib[typecheck]"``). Whether it checks here is one of the
    :data:`~workerlib.diagnostics` lines. ``class Service(WorkerService, typechecked=True)`` applies it
    to a service's methods in the worker.
    """
    try:
        from beartype import beartype
    except ImportError:  # optional: checking is worth having where it is installed, never a reason to fail
        return function
    return beartype(function)
