"""The adapter registry: how instances of any class cross between main thread and workers.

An adapter pairs ``encode(obj)``, which turns an instance into something that crosses on its own, with
``decode(data)``, which rebuilds the instance. Adapters are matched by ``isinstance`` in registration order and the
first match wins, so register a subclass's adapter before its superclass's. Both sides must register the same
adapters, which they do by importing the same module.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, overload

from .kinds import NATIVE_TYPES as NATIVE_TYPES  # (re-exported: where adapters look it up)
from .kinds import isRebuildableClass


@dataclass(frozen=True)
class Adapter:
    """One registered adapter: the type it handles, its two functions, and where it was defined."""

    type: type
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any]
    module: str
    """The module that registers this adapter, which the receiving side must import too."""

    @cached_property
    def key(self) -> str:
        """The name the encoded data carries, so the receiving side finds the matching decoder."""
        return f"{self.type.__module__}.{self.type.__qualname__}"

    @cached_property
    def synchronous(self) -> bool:
        """Whether both functions are plain ones, so values travel inline rather than as segments of their own.

        Both sides register the same adapter, so the receiving side's decoder is plain too.
        """
        return self.encode is not None and not any(
            inspect.iscoroutinefunction(function) for function in (self.encode, self.decode)
        )

    def __str__(self) -> str:
        return f"adapter for {self.key} (registered in module {self.module!r})"


class _Registry:
    """Adapters in registration order, plus an index by key for decoding."""

    def __init__(self) -> None:
        self.ordered: list[Adapter] = []
        self.byKey: dict[str, Adapter] = {}
        # Exact types seen before and the adapter (or None) that matched them: isinstance scans run once per type.
        self._matchCache: dict[type, Adapter | None] = {}

    def register(self, new: Adapter) -> Adapter:
        previous = self.byKey.get(new.key)
        if previous is not None:
            # Re-importing a module re-registers its adapters: replace in place, keeping the original order.
            self.ordered[self.ordered.index(previous)] = new
        else:
            for earlier in self.ordered:
                if issubclass(new.type, earlier.type):
                    warnings.warn(
                        f"{new} can never match: the earlier {earlier} already catches every {new.type.__qualname__}"
                        f"; register the adapter for {new.type.__qualname__} before the one for "
                        f"{earlier.type.__qualname__}",
                        AdapterShadowedWarning,
                        stacklevel=3,
                    )
            self.ordered.append(new)
        self.byKey[new.key] = new
        self._matchCache.clear()
        return new

    def match(self, obj: object) -> Adapter | None:
        kind = type(obj)
        try:
            return self._matchCache[kind]
        except KeyError:
            found = next((entry for entry in self.ordered if isinstance(obj, entry.type)), None)
            self._matchCache[kind] = found
            return found

    def unregister(self, kind: type) -> None:
        entry = next((entry for entry in self.ordered if entry.type is kind), None)
        if entry is not None:
            self.ordered.remove(entry)
            del self.byKey[entry.key]
            self._matchCache.clear()


class AdapterShadowedWarning(UserWarning):
    """An adapter was registered after another one that already matches all of its instances."""


registry = _Registry()


def _callerModule(depth: int) -> str:
    return str(sys._getframe(depth).f_globals.get("__name__", "?"))


def _checked(new: Adapter) -> Adapter:
    if new.type in NATIVE_TYPES:
        raise TypeError(
            f"cannot register an adapter for {new.type.__qualname__}: instances of exactly that type always cross "
            f"natively; adapters apply to other classes, subclasses of built-in types included"
        )
    if new.encode is None and not isRebuildableClass(new.type):
        raise TypeError(
            f"the adapter for {new.key} needs an encode function: {new.type.__qualname__} instances cannot cross "
            f"as they are (only Enum, dataclass, NamedTuple, exception and standard value types can)"
        )
    for role, function in (("encode", new.encode), ("decode", new.decode)):
        if function is not None and not callable(function):
            raise TypeError(f"the adapter for {new.key}: {role} must be callable, got {function!r}")
    return new


@overload
def adapter[T](kind: type[T]) -> Callable[[type], type]: ...
@overload
def adapter[T](
    kind: type[T], *, encode: Callable[[T], Any] | None = None, decode: Callable[[Any], T | Awaitable[T]] | None = None
) -> Adapter: ...
def adapter[T](
    kind: type[T], *, encode: Callable[[T], Any] | None = None, decode: Callable[[Any], T | Awaitable[T]] | None = None
) -> Callable[[type], type] | Adapter:
    """Register how instances of ``kind`` cross between threads.

    As a class decorator, ``@adapter(Point)`` registers the decorated class's ``encode`` and ``decode`` (staticmethods
    or plain functions)::

        @adapter(Point)
        class PointAdapter:
            @staticmethod
            def encode(point: Point) -> tuple[float, float]:
                return (point.x, point.y)

            @staticmethod
            def decode(data: tuple[float, float]) -> Point:
                return Point(*data)

    Called with functions, ``adapter(Point, encode=f, decode=g)`` registers them at once. ``decode`` defaults to
    ``kind`` itself; ``encode`` may be left out for objects that already cross as they are (an ``Enum``, a
    dataclass), to rebuild them through ``decode`` on arrival. Either function may be ``async``.

    Adapters are matched by ``isinstance`` in registration order; the first match wins and takes precedence over
    workerlib's own handling. Registering an adapter that an earlier one shadows (a subclass after its superclass)
    warns with :class:`AdapterShadowedWarning`. The encoded data carries the adapter's key (the adapted class's
    ``module.QualName``); the receiving side must have registered an adapter for the same class.
    """
    if not isinstance(kind, type):
        raise TypeError(f"adapter() needs a class to adapt, got {kind!r}")
    if encode is not None or decode is not None:
        chosen = decode if decode is not None else kind
        return registry.register(_checked(Adapter(kind, encode, chosen, module=_callerModule(2))))

    def register(holder: type) -> type:
        # getattr on the class turns staticmethods into plain functions and binds classmethods.
        holderEncode = getattr(holder, "encode", None)
        holderDecode = getattr(holder, "decode", None)
        if holderEncode is None and holderDecode is None:
            raise TypeError(
                f"@adapter({kind.__qualname__}) class {holder.__qualname__} defines neither encode nor decode"
            )
        chosen = holderDecode if holderDecode is not None else kind
        registry.register(_checked(Adapter(kind, holderEncode, chosen, module=holder.__module__)))
        return holder

    return register
