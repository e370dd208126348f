"""Rebuilding received objects of the kinds that cross without an adapter, by rules the receiver chooses.

A payload only names a class and hands over its arguments and state; what is done with them is decided here, by the
class's kind, never by the payload: no user ``__init__``, ``__post_init__``, ``__new__``, ``__setstate__`` or
``_missing_`` runs, state is only ever given to the fresh instance made for it, and standard value types take only
the arguments their own pickling produces, within bounds that keep their construction cheap. The encoding side of
the same rules is :func:`recipe`, so both directions read in one place.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import fractions
import functools
import pathlib
import types
import uuid
from collections.abc import Callable
from enum import Enum, Flag
from typing import Any

from .errors import DecodeError, UnsendableError
from .kinds import STANDARD_TYPES

FRACTION_BITS = 65536
"""How many bits a ``Fraction``'s numerator and denominator may each have to cross (about 19,700 digits)."""

DECIMAL_EXPONENT = 999_999
"""How far from zero a ``Decimal``'s adjusted exponent may be to cross: the default context's range."""

_C_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType)


# ---- encoding ------------------------------------------------------------------------------------------------------


def recipe(obj: Any, kind: type) -> tuple[str, tuple[Any, ...], Any]:
    """How ``obj`` of a rebuildable ``kind`` travels: ``(how, arguments, state)`` with ``how`` one of ``"member"``
    (an Enum member, by value), ``"object"`` (arguments and state for :func:`construct`) or ``"filled"`` (arguments
    for :func:`construct`, then the state for :func:`giveState`, which may hold the object itself)."""
    if issubclass(kind, Enum):
        return "member", (obj._value_,), None
    if issubclass(kind, BaseException):
        return "filled", tuple(obj.args), _exceptionState(obj)
    if dataclasses.is_dataclass(kind):
        return "filled", (), _instanceState(obj) or None
    if issubclass(kind, tuple):  # a NamedTuple
        return "filled", tuple(obj), _instanceState(obj) or None
    rule = _STANDARD.get(kind)
    if rule is None:
        raise UnsendableError(f"cannot send {kind.__qualname__}: workerlib has no rule to rebuild it")
    return "object", *rule.arguments(obj)


def _exceptionState(error: BaseException) -> dict[str, Any] | None:
    """An exception's attributes: what its ``__getstate__`` gives (its ``__dict__`` unless a class says otherwise),
    plus the fields a built-in base keeps outside it (``ImportError.name``...), as that base's pickling lists them."""
    getState: Any = getattr(type(error), "__getstate__", None)
    state = dict(vars(error)) if getState is object.__getstate__ else dict(getState(error) or {})
    base: Any = _builtinBase(type(error))
    reduced = base.__reduce__(error)
    if len(reduced) > 2 and isinstance(reduced[2], dict):
        own = vars(error)
        state.update({name: value for name, value in reduced[2].items() if name not in own})
    return state or None


def _instanceState(obj: Any) -> dict[str, Any]:
    state = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                state[name] = getattr(obj, name)
    return state


# ---- decoding ------------------------------------------------------------------------------------------------------


def takesState(cls: type) -> bool:
    """Whether a fresh instance of ``cls`` may be given state after :func:`construct` made it (see :func:`recipe`)."""
    return issubclass(cls, BaseException) or dataclasses.is_dataclass(cls) or issubclass(cls, tuple)


def giveState(obj: Any, state: Any) -> None:
    """Give ``state`` to ``obj``, which :func:`construct` has just made (the caller makes sure of that)."""
    cls = type(obj)
    _giveState(obj, state, f"{cls.__module__}.{cls.__qualname__}")


def construct(cls: type, args: Any, state: Any) -> Any:
    """A new instance of ``cls`` from received ``args`` and ``state``, by the rules of its kind (see the module)."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(args, tuple):
        raise DecodeError(f"malformed payload: the arguments for {name} are not a tuple")
    if issubclass(cls, Enum):
        raise DecodeError(f"malformed payload: {name} members travel by value, not built from arguments")
    if issubclass(cls, BaseException):
        return _exception(cls, args, state, name)
    if dataclasses.is_dataclass(cls):
        if args:
            raise DecodeError(f"malformed payload: a {name} travels as its fields only")
        try:
            obj = object.__new__(cls)  # not cls(): neither __init__ nor __post_init__ nor a user __new__ runs
        except TypeError as problem:
            raise DecodeError(f"cannot rebuild {name}: {problem}") from None
        if state is not None:
            _giveState(obj, state, name)
        return obj
    if issubclass(cls, tuple):  # a NamedTuple
        fields = getattr(cls, "_fields", None)
        if not isinstance(fields, tuple) or len(args) != len(fields):
            raise DecodeError(f"malformed payload: {name} has {len(fields or ())} fields, {len(args)} arrived")
        built = tuple.__new__(cls, args)
        if state is not None:
            _giveState(built, state, name)
        return built
    rule = _STANDARD.get(cls)
    if rule is None:
        raise DecodeError(f"refusing to rebuild {name}: workerlib has no rule for it")
    try:
        return rule.build(cls, args, state)
    except DecodeError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError) as error:
        raise DecodeError(f"malformed payload: cannot rebuild {name} from what arrived: {error}") from None


def member(cls: type, value: Any) -> Enum:
    """The member of Enum ``cls`` with ``value``, found without calling the class (and so any ``_missing_``)."""
    assert issubclass(cls, Enum)
    name = f"{cls.__module__}.{cls.__qualname__}"
    try:
        found = cls._value2member_map_.get(value)
    except TypeError:  # an unhashable value: members with one are kept apart from the map
        found = None
    if found is None:
        for candidate in cls._member_map_.values():
            if type(candidate._value_) is type(value) and candidate._value_ == value:
                found = candidate
                break
    # A combination of defined flags is made by Flag's own _missing_ (unless the class brings its own), and cached
    # in the class: only combinations of its own bits, so a payload cannot make that cache grow past what the class
    # defines.
    ownMissing = getattr(cls._missing_, "__func__", None) is Flag._missing_.__func__  # type: ignore[attr-defined]
    mask = getattr(cls, "_flag_mask_", 0)
    combination = type(value) is int and value >= 0 and not value & ~mask
    if found is None and issubclass(cls, Flag) and ownMissing and combination:
        try:
            found = cls(value)
        except ValueError:
            found = None
    if found is None:
        raise DecodeError(f"no member of {name} has the value {_short(value)}; is the Enum the same on both sides?")
    return found


def _exception(cls: type[BaseException], args: tuple[Any, ...], state: Any, name: str) -> BaseException:
    base: Any = _builtinBase(cls)
    try:
        error: BaseException = base.__new__(cls, *args)  # the built-in base's own __new__ and __init__: C code
        base.__init__(error, *args)
    except (TypeError, ValueError) as problem:
        raise DecodeError(f"malformed payload: cannot rebuild {name} from its args: {problem}") from None
    if state is not None:
        _giveState(error, state, name)
    return error


def _builtinBase(cls: type) -> type:
    for klass in cls.__mro__:
        if klass.__module__ == "builtins":
            return klass
    return object  # pragma: no cover - every class has object


def _giveState(obj: Any, state: Any, name: str) -> None:
    """Set ``state`` (names to values) on ``obj``, just made: slots through their C descriptors, the rest in its
    ``__dict__``. Never ``setattr``: a class's ``__setattr__`` or a property's setter would run."""
    if not isinstance(state, dict):
        raise DecodeError(f"malformed payload: the state of a {name} is not a dict")
    cls: Any = type(obj)
    for key, value in state.items():
        if type(key) is not str:
            raise DecodeError(f"malformed payload: the state of a {name} names an attribute by {_short(key)}")
        attribute = _classAttribute(cls, key)
        if type(attribute) in _C_DESCRIPTORS:
            try:
                attribute.__set__(obj, value)
            except (TypeError, AttributeError, ValueError) as problem:
                raise DecodeError(f"malformed payload: cannot set {name}.{key}: {problem}") from None
        elif attribute is not None and (hasattr(type(attribute), "__get__") or callable(attribute)):
            # A property's setter would run, or an instance attribute would shadow a method.
            raise DecodeError(f"refusing to set {name}.{key}: the class defines it as a method or property")
        else:
            try:
                vars(obj)[key] = value
            except TypeError:
                raise DecodeError(f"malformed payload: a {name} has no attribute {key!r} to set") from None


@functools.lru_cache(maxsize=4096)
def _classAttribute(cls: type, key: str) -> Any:
    # Cached: asked for every attribute of every object received, and classes rarely change after import.
    for klass in cls.__mro__:
        found = vars(klass).get(key)
        if found is not None:
            return found
    return None


def _short(value: Any) -> str:
    if type(value) is int and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    text = repr(value) if type(value) in (int, str, bytes, float, bool, type(None)) else type(value).__qualname__
    return text if len(text) <= 60 else f"{text[:57]}..."


# ---- standard value types ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Rule:
    """How one standard type travels: what its encoder sends, and the only shape its decoder accepts."""

    arguments: Callable[[Any], tuple[tuple[Any, ...], Any]]
    build: Callable[[type, tuple[Any, ...], Any], Any]


def _shape(name: str, args: tuple[Any, ...], *allowed: tuple[type, ...]) -> None:
    if len(args) != len(allowed) or not all(type(arg) in kinds for arg, kinds in zip(args, allowed, strict=True)):
        got = ", ".join(type(arg).__qualname__ for arg in args)
        raise DecodeError(f"malformed payload: a {name} is rebuilt from ({got}), which is not what it sends")


def _fractionArguments(value: fractions.Fraction) -> tuple[tuple[Any, ...], Any]:
    _checkFraction(value.numerator, value.denominator, UnsendableError)
    return (value.numerator, value.denominator), None


def _checkFraction(numerator: int, denominator: int, error: type[Exception]) -> None:
    if max(numerator.bit_length(), denominator.bit_length()) > FRACTION_BITS:
        raise error(f"a Fraction with more than FRACTION_BITS ({FRACTION_BITS}) bits in a part does not cross")


def _buildFraction(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    _shape("Fraction", args, (int,), (int,))
    _checkFraction(args[0], args[1], DecodeError)
    if args[1] <= 0:
        raise DecodeError("malformed payload: a Fraction's denominator must be positive")
    return fractions.Fraction(args[0], args[1])


def _decimalArguments(value: decimal.Decimal) -> tuple[tuple[Any, ...], Any]:
    _checkDecimal(value, UnsendableError)
    return (str(value),), None


def _checkDecimal(value: decimal.Decimal, error: type[Exception]) -> None:
    if value.is_finite() and abs(value.adjusted()) > DECIMAL_EXPONENT:
        raise error(f"a Decimal whose exponent is beyond DECIMAL_EXPONENT ({DECIMAL_EXPONENT}) does not cross")


def _buildDecimal(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    _shape("Decimal", args, (str,))
    # Decimal's parser is linear, so parse first and check the exponent of what came out.
    value = decimal.Decimal(args[0])
    _checkDecimal(value, DecodeError)
    return value


def _buildUuid(cls: type, args: tuple[Any, ...], state: Any) -> Any:
    _shape("UUID", args)
    if not isinstance(state, dict) or set(state) - {"int", "is_safe"} or type(state.get("int")) is not int:
        raise DecodeError("malformed payload: a UUID travels as its 128-bit int")
    safe = state.get("is_safe", uuid.SafeUUID.unknown)
    if not isinstance(safe, uuid.SafeUUID):
        raise DecodeError("malformed payload: a UUID's is_safe must be a SafeUUID")
    return uuid.UUID(int=state["int"], is_safe=safe)


def _reduced(value: Any) -> tuple[tuple[Any, ...], Any]:
    reduced = value.__reduce_ex__(5)
    return tuple(reduced[1]) if reduced[0] is type(value) else tuple(reduced[1][1:]), (
        reduced[2] if len(reduced) > 2 else None
    )


def _calling(*shapes: tuple[tuple[type, ...], ...]) -> Callable[[type, tuple[Any, ...], Any], Any]:
    """A build that calls the (C-implemented, standard) class with arguments of one of ``shapes``."""

    def build(cls: type, args: tuple[Any, ...], state: Any) -> Any:
        problems = []
        for shape in shapes:
            try:
                _shape(cls.__qualname__, args, *shape)
                break
            except DecodeError as problem:
                problems.append(problem)
        else:
            raise problems[0]
        if state is not None:
            raise DecodeError(f"malformed payload: a {cls.__qualname__} takes no state")
        return cls(*args)

    return build


_TZ = (datetime.timezone, type(None))
_STANDARD: dict[type, _Rule] = {
    complex: _Rule(lambda value: ((value.real, value.imag), None), _calling(((float,), (float,)))),
    bytes: _Rule(lambda value: ((bytes(value),), None), _calling(((bytes,),))),
    fractions.Fraction: _Rule(_fractionArguments, _buildFraction),
    decimal.Decimal: _Rule(_decimalArguments, _buildDecimal),
    uuid.UUID: _Rule(lambda value: ((), {"int": value.int, "is_safe": value.is_safe}), _buildUuid),
    datetime.date: _Rule(_reduced, _calling(((bytes,),))),
    datetime.time: _Rule(_reduced, _calling(((bytes,),), ((bytes,), _TZ))),
    datetime.datetime: _Rule(_reduced, _calling(((bytes,),), ((bytes,), _TZ))),
    datetime.timedelta: _Rule(_reduced, _calling(((int,), (int,), (int,)))),
    datetime.timezone: _Rule(_reduced, _calling(((datetime.timedelta,),), ((datetime.timedelta,), (str,)))),
}
for _path in STANDARD_TYPES:
    if isinstance(_path, type) and issubclass(_path, pathlib.PurePath):
        _STANDARD[_path] = _Rule(lambda value: ((str(value),), None), _calling(((str,),)))
