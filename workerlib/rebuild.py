"""Rebuilding received objects of the kinds that cross without an adapter, by rules the receiver chooses.

A payload only names a class and hands over its arguments and state; what is done with them is decided here, by the
class's kind, never by the payload: no user ``__init__``, ``__post_init__``, ``__new__``, ``__setstate__`` or
``_missing_`` runs, state is only ever given to the fresh instance made for it, and standard value types take only
the arguments their own pickling produces, within bounds that keep their construction cheap. The encoding side of
the same rules is :func:`recipe`, so both directions read in one place.

Rebuilding never goes around a type's own checks. A built-in type's C-level fields (``UnicodeError.start``,
``OSError.errno``, ``datetime``'s day...) are only ever set by its constructor, from arguments checked here first:
the constructors check types but not every range their C code later relies on (a ``UnicodeDecodeError`` whose
``start`` is far outside its object crashes the interpreter when printed). State names only instance attributes: a
str identifier, never a dunder (``__dict__``, ``__class__``), never a name the class defines as a method, property
or other descriptor, and a slot only when the class declares it. Naming a class reads module and class namespaces
only (:func:`findClass`), and nothing a payload sends grows a cache: neither this module's nor a class's.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
from collections.abc import Callable
from enum import Enum, Flag
from typing import Any

from .errors import DecodeError, UnsendableError
from .kinds import (
    STANDARD_RULES as STANDARD_RULES,
)
from .kinds import (
    classMro,
    classNamespace,
    isIntIn,
    isRebuildableClass,
)

NAME_LENGTH = 255
"""How long the name of an attribute given in a state may be. CPython keeps the first attribute names set on a
class's instances (up to about 30) in keys shared by the class, for good: a payload's names must be short to be."""

_MISSING = object()


# ---- encoding ------------------------------------------------------------------------------------------------------


def recipe(obj: Any, kind: type) -> tuple[str, tuple[Any, ...], Any]:
    """How ``obj`` of a rebuildable ``kind`` travels: ``(how, arguments, state)`` with ``how`` one of ``"member"``
    (an Enum member, by value), ``"object"`` (arguments and state for :func:`construct`) or ``"filled"`` (arguments
    for :func:`construct`, then the state for :func:`giveState`, which may hold the object itself)."""
    if issubclass(kind, Enum):
        return "member", (obj._value_,), None
    if issubclass(kind, BaseException):
        return "filled", *_exceptionRecipe(obj)
    if dataclasses.is_dataclass(kind):
        return "filled", (), _instanceState(obj) or None
    if issubclass(kind, tuple):  # a NamedTuple
        return "filled", tuple(obj), _instanceState(obj) or None
    rule = STANDARD_RULES.get(kind)
    if rule is None:
        raise UnsendableError(f"cannot send {kind.__qualname__}: workerlib has no rule to rebuild it")
    return "object", *rule.arguments(obj)


def _exceptionRecipe(error: BaseException) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """An exception's constructor arguments, as its built-in base's own pickling gives them (``OSError``'s filename
    travels there), and its state: its attributes (what a ``__getstate__`` the class writes in Python gives, else its
    ``__dict__``) plus the keyword fields of its built-in base that are set (``ImportError.name``...)."""
    base, fields = _builtinFields(type(error))
    args = tuple(base.__reduce__(error)[1])
    getState: Any = getattr(type(error), "__getstate__", None)
    state = dict(getState(error) or {}) if isinstance(getState, types.FunctionType) else dict(vars(error))
    for field in fields.keywords:
        value = getattr(error, field)
        if value is not None and field not in state:
            state[field] = value
    return args, state or None


def _instanceState(obj: Any) -> dict[str, Any]:
    state = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for klass in type(obj).__mro__:
        slots = vars(klass).get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                state[name] = getattr(obj, name)
    return state


# ---- naming a class ------------------------------------------------------------------------------------------------


def findClass(module: Any, qualname: Any) -> type:
    """The class ``module.qualname`` names on this side, if instances of it may be rebuilt (see
    :func:`~workerlib.kinds.isRebuildableClass`); :class:`DecodeError` otherwise.

    Nothing is imported, and nothing found on the way is asked anything: the walk reads the namespace of a plain
    module (``vars()``, never ``getattr``, which would run a module's ``__getattr__``) or the namespaces along a
    class's MRO (through ``type``'s own descriptors, never the class's metaclass), and passes through nothing else,
    so neither a proxy object sitting in ``sys.modules`` nor a metaclass's ``__getattr__`` runs.
    """
    if type(module) is not str or type(qualname) is not str:
        raise DecodeError(f"malformed payload: a class named by {_short(module)} and {_short(qualname)}")
    found: Any = sys.modules.get(module)
    if found is None:
        raise DecodeError(
            f"cannot rebuild {module}.{qualname}: module {module!r} is not imported on this side; import it here too"
        )
    for part in qualname.split("."):
        found = _lookIn(found, part)
        if found is _MISSING:
            raise DecodeError(f"cannot rebuild {module}.{qualname}: module {module!r} has no {qualname!r} on this side")
    # issubclass on the type of what was found, not isinstance on it: isinstance would ask it its __class__.
    if issubclass(type(found), type) and isRebuildableClass(found):
        cls: type = found
        return cls
    raise DecodeError(
        f"refusing to rebuild {module}.{qualname}: payloads may only name standard value types, Enum, dataclass, "
        f"NamedTuple and exception classes, or adapted types"
    )


def _lookIn(scope: Any, name: str) -> Any:
    """What ``scope`` (a plain module or a class) holds under ``name``, or ``_MISSING``; nothing else is looked in.

    A module only when its type is exactly ``ModuleType``: a subclass (a lazy module, a module whose ``__class__``
    was swapped to customize attribute access) would run its own ``__getattribute__`` even for ``vars()``."""
    if type(scope) is types.ModuleType:
        return vars(scope).get(name, _MISSING)
    if issubclass(type(scope), type):
        for klass in classMro(scope):
            found = classNamespace(klass).get(name, _MISSING)
            if found is not _MISSING:
                return found
    return _MISSING


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
    rule = STANDARD_RULES.get(cls)
    if rule is None:
        raise DecodeError(f"refusing to rebuild {name}: workerlib has no rule for it")
    try:
        return rule.build(cls, args, state)
    except DecodeError:
        raise
    except (TypeError, ValueError, OverflowError, ArithmeticError) as error:
        raise DecodeError(f"malformed payload: cannot rebuild {name} from what arrived: {error}") from None


def member(cls: type, value: Any) -> Enum:
    """The member of Enum ``cls`` with ``value``, found without calling the class (and so any ``_missing_``).

    A combination of a ``Flag``'s own bits that this side has not made yet is made by Flag's own code. A small Flag
    (at most :data:`FLAG_COMBINATIONS` combinations) keeps it in its cache, as it would for the program, so that it
    is the one object the program makes later (a plain ``Flag`` compares by identity): the class bounds that cache,
    not the payload. A larger one does not keep it: a payload could otherwise leave one there for each of the
    ``2**bits`` values, for the life of the program; such a combination then equals the one the program makes later
    only as an ``IntFlag`` or by ``.value``.
    """
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
    if found is None and issubclass(cls, Flag) and _isCombination(cls, value):
        found = _combination(cls, value)
    if found is None:
        raise DecodeError(f"no member of {name} has the value {_short(value)}; is the Enum the same on both sides?")
    return found


def _isCombination(cls: type[Flag], value: Any) -> bool:
    """Whether ``value`` is a combination of ``cls``'s own flags that Flag's own ``_missing_`` makes (the class does
    not bring its own, which could run anything)."""
    ownMissing = getattr(cls._missing_, "__func__", None) is vars(Flag)["_missing_"].__func__
    mask = getattr(cls, "_flag_mask_", 0)
    return ownMissing and type(value) is int and value >= 0 and not value & ~mask


FLAG_COMBINATIONS = 256
"""How many combinations a ``Flag`` class may have for a received one to be kept in its cache (see :func:`member`)."""


def _combination(cls: type[Flag], value: int) -> Flag | None:
    cache = cls._value2member_map_
    try:
        made: Flag = vars(Flag)["_missing_"].__func__(cls, value)
    except ValueError:
        return None
    small = getattr(cls, "_flag_mask_", 0).bit_count() <= FLAG_COMBINATIONS.bit_length() - 1
    if not small and cache.get(value) is made:  # Flag's code caches what it makes; the value was not there before
        del cache[value]
    return made


# ---- exceptions ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Fields:
    """What a built-in exception class keeps in C-level fields, and so how its instances are rebuilt: the
    constructor takes the received args once ``check`` finds nothing wrong with them (it returns what is wrong, or
    None), and the fields named in ``keywords`` travel in the state and are given to the constructor by keyword."""

    check: Callable[[tuple[Any, ...]], str | None]
    keywords: tuple[str, ...] = ()


def _anyArgs(args: tuple[Any, ...]) -> str | None:
    """Args kept as they are (and ``args[0]`` as ``StopIteration.value``, ``SystemExit.code``...): only printed."""
    return None


def _unicodeArgs(objectType: type, encoding: bool) -> Callable[[tuple[Any, ...]], str | None]:
    """``([encoding: str,] object, start: int, end: int, reason: str)``: the error's C code reads ``object`` at
    ``start`` without a bounds check, so ``0 <= start <= end <= len(object)``."""

    def check(args: tuple[Any, ...]) -> str | None:
        if len(args) != (5 if encoding else 4) or (encoding and type(args[0]) is not str):
            return f"not ({'encoding, ' if encoding else ''}object, start, end, reason)"
        thing, start, end, reason = args[-4:]
        if type(thing) is not objectType or type(reason) is not str:
            return f"the object must be {objectType.__qualname__} and the reason str"
        size = len(args[-4])
        if not (isIntIn(start, 0, size) and isIntIn(end, start, size)):
            return f"start and end must be ints with 0 <= start <= end <= {size}, the object's length"
        return None

    return check


def _osErrorArgs(args: tuple[Any, ...]) -> str | None:
    """``(errno, strerror[, filename[, winerror[, filename2]]])`` sets its fields (two to five args; others are
    only kept); ``BlockingIOError``'s third is the count of characters written. Filenames may be anything."""
    if 2 <= len(args) <= 5 and not (args[0] is None or type(args[0]) is int):
        return "errno must be an int or None"
    if 2 <= len(args) <= 5 and not (args[1] is None or type(args[1]) is str):
        return "strerror must be a str or None"
    return None


def _syntaxErrorArgs(args: tuple[Any, ...]) -> str | None:
    """``(msg, (filename, lineno, offset, text[, end_lineno, end_offset]))`` sets its fields (other lengths are only
    kept). The traceback module prints one caret per column between the offsets when ``text`` is empty, so offsets
    stay near the text: within ``4 * len(text) + 2`` (columns may count UTF-8 bytes), or ``2**31`` without text."""
    if len(args) != 2:
        return None
    if type(args[0]) is not str or type(args[1]) is not tuple or len(args[1]) not in (4, 6):
        return "not (msg, (filename, lineno, offset, text[, end_lineno, end_offset]))"
    filename, lineno, offset, text, *end = args[1]
    if not (filename is None or type(filename) is str) or not (text is None or type(text) is str):
        return "filename and text must be str or None"
    widest = 2**31 if text is None else 4 * len(text) + 2
    lines = [lineno, *end[:1]]
    columns = [offset, *end[1:]]
    if not all(line is None or isIntIn(line, -1, 2**31) for line in lines):
        return "lineno and end_lineno must be ints below 2**31 or None"
    if not all(column is None or isIntIn(column, -1, widest) for column in columns):
        return f"offset and end_offset must be ints from -1 to {widest} or None"
    return None


def _groupArgs(args: tuple[Any, ...]) -> str | None:
    """``(message: str, exceptions)``, a non-empty list or tuple of exceptions (the constructor checks which)."""
    if len(args) != 2 or type(args[0]) is not str or type(args[1]) not in (list, tuple) or not args[1]:
        return "not (message, a non-empty list of exceptions)"
    if not all(issubclass(type(item), BaseException) for item in args[1]):
        return "an item of its exceptions is not an exception"
    return None


_BUILTIN_EXCEPTIONS: dict[type, _Fields] = {
    BaseException: _Fields(_anyArgs),
    StopIteration: _Fields(_anyArgs),  # value: args[0]
    SystemExit: _Fields(_anyArgs),  # code: args[0]
    ImportError: _Fields(_anyArgs, ("name", "path")),
    AttributeError: _Fields(_anyArgs, ("name",)),  # obj stays behind, as in Python's own pickling
    NameError: _Fields(_anyArgs, ("name",)),
    OSError: _Fields(_osErrorArgs),
    SyntaxError: _Fields(_syntaxErrorArgs),
    UnicodeEncodeError: _Fields(_unicodeArgs(str, encoding=True)),
    UnicodeDecodeError: _Fields(_unicodeArgs(bytes, encoding=True)),
    UnicodeTranslateError: _Fields(_unicodeArgs(str, encoding=False)),
    BaseExceptionGroup: _Fields(_groupArgs),
}
"""Built-in exception classes by the C-level fields they keep, each with how its constructor's arguments are checked
(subclasses, built-in or not, follow the nearest entry up their MRO). Every built-in exception class that defines
fields of its own has an entry: a unit test holds this table to that."""


def _builtinFields(cls: type) -> tuple[Any, _Fields]:
    """The built-in class that exceptions of ``cls`` are made by, and the entry for its fields."""
    base = next(klass for klass in cls.__mro__ if klass.__module__ == "builtins")
    fields = next(_BUILTIN_EXCEPTIONS[klass] for klass in base.__mro__ if klass in _BUILTIN_EXCEPTIONS)
    return base, fields


def _exception(cls: type[BaseException], args: tuple[Any, ...], state: Any, name: str) -> BaseException:
    base, fields = _builtinFields(cls)
    problem = fields.check(args)
    if problem is not None:
        raise DecodeError(f"malformed payload: cannot rebuild {name} from its args: {problem}")
    try:
        error: BaseException = base.__new__(cls, *args)  # the built-in base's own __new__ and __init__: C code
        base.__init__(error, *args)
    except (TypeError, ValueError, OverflowError) as problem:
        raise DecodeError(f"malformed payload: cannot rebuild {name} from its args: {problem}") from None
    if state is not None:
        _giveExceptionState(error, state, name)
    return error


def _giveExceptionState(error: BaseException, state: Any, name: str) -> None:
    """Give an exception its state: its built-in base's keyword fields through that base's constructor, its notes
    through ``add_note``, and the rest as attributes (:func:`_setAttributes`)."""
    base, fields = _builtinFields(type(error))
    keywords: dict[str, str | None] = {}
    notes: Any = None
    attributes: dict[str, Any] = {}
    for key, value in _checkedState(state, name).items():
        if key in fields.keywords:
            if value is not None and type(value) is not str:
                raise DecodeError(f"malformed payload: {name}.{key} is a {type(value).__qualname__}, not a str")
            keywords[key] = value
        elif key == "__notes__":
            notes = value
        else:
            attributes[key] = value
    if keywords:
        # The constructor again, now with the fields it takes by keyword. The bases that have such fields keep the
        # args they are given as they are (only OSError changes them, and it has none), so the args stay.
        try:
            base.__init__(error, *error.args, **keywords)
        except (TypeError, ValueError) as problem:
            raise DecodeError(f"malformed payload: cannot give {name} its fields: {problem}") from None
    if notes is not None:
        if type(notes) is not list or not all(type(note) is str for note in notes):
            raise DecodeError(f"malformed payload: the notes of a {name} are not a list of str")
        for note in notes:
            BaseException.add_note(error, note)
    _setAttributes(error, attributes, name)


# ---- state ---------------------------------------------------------------------------------------------------------


def _giveState(obj: Any, state: Any, name: str) -> None:
    if issubclass(type(obj), BaseException):
        _giveExceptionState(obj, state, name)
    else:
        _setAttributes(obj, _checkedState(state, name), name)


def _checkedState(state: Any, name: str) -> dict[str, Any]:
    if type(state) is not dict:
        raise DecodeError(f"malformed payload: the state of a {name} is not a dict")
    for key in state:
        if type(key) is not str:
            raise DecodeError(f"malformed payload: the state of a {name} names an attribute by {_short(key)}")
    return state


def _setAttributes(obj: Any, state: dict[str, Any], name: str) -> None:
    """Set ``state`` (str names to values) on ``obj``, just made: the slots its class declares through their
    descriptors, the rest in its ``__dict__``. Never ``setattr``: a class's ``__setattr__`` or a property's setter
    would run. Refused: a name that is not an identifier of at most ``NAME_LENGTH`` characters, or is a dunder
    (``__dict__`` would replace the instance's namespace wholesale, ``__class__`` its type), and a name the class
    defines as a method, property or descriptor, C-level fields of built-in types included (an instance attribute
    would shadow a method; a field would be written past its constructor's checks)."""
    cls: Any = type(obj)
    layout = _layout(cls)
    for key, value in state.items():
        if len(key) > NAME_LENGTH or not key.isidentifier() or (key.startswith("__") and key.endswith("__")):
            raise DecodeError(f"refusing to set {name}.{_short(key)}: not the name of an attribute a payload may set")
        attribute, declaredSlot = _classAttribute(layout, key)
        if declaredSlot:
            try:
                attribute.__set__(obj, value)
            except (TypeError, AttributeError) as problem:
                raise DecodeError(f"malformed payload: cannot set {name}.{key}: {problem}") from None
        elif attribute is not _MISSING and (hasattr(type(attribute), "__get__") or callable(attribute)):
            raise DecodeError(
                f"refusing to set {name}.{key}: the class defines it as a method, property or built-in field"
            )
        else:
            try:
                vars(obj)[key] = value
            except TypeError:
                raise DecodeError(f"malformed payload: a {name} has no attribute {key!r} to set") from None


def _classAttribute(layout: _Layout, key: str) -> tuple[Any, bool]:
    """What the class whose ``layout`` this is defines as ``key`` (``_MISSING`` if nothing), and whether that is a
    slot one of its classes declares."""
    for namespace, slots in layout:
        attribute = namespace.get(key, _MISSING)
        if attribute is not _MISSING:
            return attribute, type(attribute) is types.MemberDescriptorType and key in slots
    return _MISSING, False


_Layout = tuple[tuple[types.MappingProxyType[str, Any], frozenset[str]], ...]


@functools.lru_cache(maxsize=1024)
def _layout(cls: type) -> _Layout:
    """The namespaces along ``cls``'s MRO, each with the slots its class declares in ``__slots__``.

    Cached by class alone (a payload names only classes this side has, so the cache cannot grow with payloads); the
    namespaces are live views, so an attribute a class gains later is seen."""
    layout = []
    for klass in classMro(cls):
        namespace = classNamespace(klass)
        slots = namespace.get("__slots__", ())
        layout.append((namespace, frozenset((slots,) if isinstance(slots, str) else slots)))
    return tuple(layout)


def _short(value: Any) -> str:
    if type(value) is int and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    text = repr(value) if type(value) in (int, str, bytes, float, bool, type(None)) else type(value).__qualname__
    return text if len(text) <= 60 else f"{text[:57]}..."
