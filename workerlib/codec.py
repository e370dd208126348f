"""Values to one ``bytes`` payload and back: exact types, shared references and cycles kept, adapters applied.

The payload is a pickle (protocol 5): CPython's C pickler is the fastest way inside Pyodide to turn nested Python
values into one block of bytes, and one block crosses between threads far cheaper than a tree of JavaScript objects.
Pickle alone would let a payload run code, so both directions are restricted:

* :func:`encode` refuses, before anything is sent, any object that is neither a built-in value, a standard value type
  (``datetime``, ``Decimal``, ``UUID``...), an ``Enum`` member, a dataclass or ``NamedTuple`` instance, an exception,
  nor handled by a registered adapter, naming where in the value it sits.
* :func:`decode` never imports anything: it only looks up classes in modules already imported on this side, and only
  classes of those same kinds.

An object whose adapter has two plain functions travels in place: ``(adapter key, module, encoded data)``, decoded as
the pickle is read. With an ``async`` encoder or decoder it travels as a segment of its own: the pickle holds a
reference ``(segment number)`` where the object sat, and each segment holds the pickle of what ``encode`` returned,
which may refer to further segments. Keeping them apart is what lets adapters be ``async``: a segment is decoded, and
its decoder awaited, before any segment that refers to it is unpickled, so no half-built value ever needs patching.
A value without segments is a plain pickle; one with them is framed as::

    MAGIC | u32 count | count x u64 lengths | index pickle | root pickle | segment 1 pickle | ...

where the index lists, per segment, the adapter's key and registering module, and the segments it refers to.
"""

from __future__ import annotations

import array
import dataclasses
import functools
import gc
import inspect
import io
import operator
import pickle
import struct
import types
from collections.abc import Callable, Coroutine, Iterator, Sequence
from enum import Enum
from typing import Any, Protocol

from . import nesting, rebuild, screening
from .adapters import Adapter, registry
from .errors import AdapterError, DecodeError, UnsendableError
from .kinds import CROSSING, DECIMAL_EXPONENT, FRACTION_BITS, NATIVE_TYPES, SCALARS, isRebuildableClass
from .nesting import NESTING_LIMIT

__all__ = [
    "DECIMAL_EXPONENT",
    "FRACTION_BITS",
    "JOINED",
    "MAGIC",
    "NESTING_LIMIT",
    "PART_BYTES_PER_ENTRY",
    "PROTOCOL",
    "TREE_PART",
    "Attachments",
    "DecodeError",
    "OutOfBand",
    "UnsendableError",
    "decode",
    "decodeAsync",
    "decodePart",
    "encode",
    "encodeAsync",
    "encodePart",
]

PROTOCOL = 5
MAGIC = b"WLv1"
"""First bytes of a framed payload; a plain one starts with pickle's own ``PROTO`` opcode instead."""


class Attachments(Protocol):
    """Values that travel beside a payload rather than inside it: in a browser, the JavaScript objects a channel posts
    with its message (see :mod:`workerlib.channel`). A channel makes one collector per payload it encodes."""

    def accepts(self, obj: object) -> bool:
        """Whether ``obj`` travels beside the payload; called for every object outside pickle's fast path."""
        ...

    def attach(self, obj: object) -> int:
        """Record ``obj`` and return its index; raise ``TypeError`` saying why it cannot travel."""
        ...


def _segment(number: int) -> Any:
    """Stands in, inside a pickle, for the adapted object of segment ``number``; never actually called."""
    raise DecodeError(f"segment reference {number} used outside a workerlib decoder")


@dataclasses.dataclass(frozen=True, slots=True)
class OutOfBand:
    """Stands, in a value being encoded, for a value that travels beside the payload as a buffer of its own: a
    ``bytes``, a ``bytearray``, or a list of ints or floats (as the bytes of an ``array``).

    The payload refers to it by ``index`` into the ``buffers`` handed to the decoder (see :mod:`workerlib.protocol`).
    """

    index: int
    mutable: bool
    """Whether the value is a ``bytearray`` (rebuilt as one) rather than ``bytes``."""
    typecode: str = ""
    """For a list, the ``array`` type code its items were packed with (``"q"`` ints, ``"d"`` floats)."""


NUMERIC_TYPECODES = {"q": int, "d": float}
"""The array type codes a list may travel as, and the type of every item of such a list."""

_TYPECODES = {kind: typecode for typecode, kind in NUMERIC_TYPECODES.items()}


def packNumbers(value: list[Any]) -> tuple[str, bytes] | None:
    """A non-empty list as the bytes of an ``array`` and its type code, when its items are all exact ints of 64 bits
    or all floats; else None. (``struct`` packs a list twice as fast as ``array`` does in Pyodide; the bytes are the
    same.) :func:`unpackNumbers` turns them back into the list."""
    kind = type(value[0])
    typecode = _TYPECODES.get(kind)
    if typecode is None or operator.countOf(map(type, value), kind) != len(value):
        return None  # (bool and int subclasses too: they would arrive as plain ints)
    try:
        return typecode, struct.pack(f"={len(value)}{typecode}", *value)
    except struct.error:  # an int beyond 64 bits: the list is pickled as it is
        return None


def unpackNumbers(typecode: Any, buffer: Any) -> list[Any]:
    """The list :func:`packNumbers` packed as ``typecode``; :class:`DecodeError` for what it never makes."""
    if typecode not in NUMERIC_TYPECODES:
        raise DecodeError(f"malformed payload: a list packed as {typecode!r}, which is not one workerlib sends")
    items = array.array(typecode)
    if len(buffer) % items.itemsize:
        raise DecodeError(f"malformed payload: a buffer of {len(buffer)} bytes holds no whole {typecode!r} items")
    items.frombytes(buffer)
    return items.tolist()


def _outOfBand(index: int, mutable: bool, typecode: str = "") -> Any:
    """Stands in, inside a pickle, for a buffer that travels beside the payload; never actually called."""
    raise DecodeError(f"buffer {index} used outside a workerlib decoder")


def _attached(index: int) -> Any:
    """Stands in, inside a pickle, for a value that travels beside the payload; never actually called."""
    raise DecodeError(f"attached value {index} used outside a workerlib decoder")


def _callback(index: int) -> Any:
    """Stands in, inside a request's pickle, for a callable passed as an argument; never actually called."""
    raise DecodeError(f"callback {index} used outside a workerlib decoder")


class _Joined:
    """The type of :data:`JOINED`."""

    def __repr__(self) -> str:
        return "workerlib.codec.JOINED"


JOINED = _Joined()
"""Stands, in a value being encoded, for a list sent ahead in parts (see :func:`encodePart`); the decoder puts the
list those parts built in its place (``joined`` of :func:`decodeAsync`)."""


@dataclasses.dataclass(slots=True)
class Joined:
    """A list sent ahead in parts, as its parts built it (see :func:`decodePart`), and how deep it nests: the deepest
    of its parts, each measured as it arrived, so the payload that takes the list need not measure it again."""

    items: list[Any]
    depth: int


def _joined() -> Any:
    """Stands in, inside a pickle, for a list sent ahead in parts; never actually called."""
    raise DecodeError("a list sent in parts used outside a workerlib decoder")


def _inline(key: str, module: str, data: Any) -> Any:
    """Stands in, inside a pickle, for an object a synchronous adapter encoded in place; never actually called."""
    raise DecodeError(f"value adapted by {key} decoded outside a workerlib decoder")


class _Unattachable(Exception):
    """A value the channel accepts to carry refused to go (a JavaScript object structured clone cannot copy)."""

    def __init__(self, obj: Any, reason: TypeError) -> None:
        super().__init__()
        self.obj, self.reason = obj, reason


class _Failed(Exception):
    """An adapter failed inside the (un)pickler, which has no idea where; the caller names the place."""

    def __init__(self, adapter: Adapter, obj: Any, cause: BaseException) -> None:
        super().__init__()
        self.adapter, self.obj, self.cause = adapter, obj, cause


def _callInline(found: Adapter, direction: str, value: Any) -> Any:
    function = found.encode if direction == "encode" else found.decode
    assert function is not None  # an adapter without encode never travels inline
    try:
        result = function(value)
    except Exception as error:
        raise _Failed(found, value, error) from error
    if hasattr(type(result), "__await__"):  # inspect.isawaitable, at a fraction of the cost per object
        if hasattr(result, "close"):
            result.close()
        cause = TypeError(f"{direction} returned an awaitable from a plain function; declare it with async def")
        raise _Failed(found, value, cause)
    return result


def _construct(module: str, qualname: str, args: tuple[Any, ...], state: Any) -> Any:
    """Stands in, inside a pickle, for building an instance of ``module.qualname``; never actually called.

    Payloads name classes only as strings handed to this function, never as pickle globals, so a class object never
    sits on the unpickler's stack; what the arguments and state become is decided by :mod:`workerlib.rebuild`.
    """
    raise DecodeError(f"instance of {module}.{qualname} built outside a workerlib decoder")


def _member(module: str, qualname: str, value: Any) -> Any:
    """Stands in, inside a pickle, for the member of Enum ``module.qualname`` with ``value``; never actually called."""
    raise DecodeError(f"member of {module}.{qualname} looked up outside a workerlib decoder")


def _fill(obj: Any, state: Any) -> None:
    """Stands in, inside a pickle, for giving ``state`` to ``obj``, made by ``_construct`` just before; never actually
    called. Apart from the construction so that the state may refer back to the object (``node.next = node``)."""
    raise DecodeError("state given outside a workerlib decoder")


_MAX_CALLBACK = 2**31

_STAND_IN_FUNCTIONS = (_segment, _construct, _member, _fill, _inline, _attached, _outOfBand, _callback, _joined)
assert tuple(function.__name__ for function in _STAND_IN_FUNCTIONS) == screening.STAND_INS  # one list of names


CALLABLE_TYPES: tuple[type, ...] = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    functools.partial,
)
"""What crosses as a callback when passed as an argument into a worker: functions, lambdas, bound and built-in
methods, ``async`` functions, ``functools.partial`` objects."""


def _recipe(obj: Any, kind: type) -> tuple[Any, ...]:
    """How to rebuild ``obj`` of a rebuildable ``kind``, as a reduce value naming the stand-ins above."""
    how, args, state = rebuild.recipe(obj, kind)
    if how == "member":
        return _member, (kind.__module__, kind.__qualname__, args[0])
    if how == "filled" and state is not None and not nesting.SCALARS.issuperset(map(type, state.values())):
        # The pickler memoizes the object, then calls _fill(object, state): a state holding the object refers back.
        # (A state of scalars cannot, and travels with the construction: half the opcodes for the common record.)
        return _construct, (kind.__module__, kind.__qualname__, args, None), state, None, None, _fill
    return _construct, (kind.__module__, kind.__qualname__, args, state)


# ---- encoding ------------------------------------------------------------------------------------------------------


class _Pickler(pickle.Pickler):
    """Pickles one segment; adapted objects become references to segments the session encodes next."""

    def __init__(self, file: io.BytesIO, session: _Encoding, verbatim: object) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self.session = session
        self.attachments = session.attachments
        self.callbacks = session.callbacks
        self.verbatim = verbatim  # an adapter without encode sends its object as it is: do not adapt it again
        self.refers: list[int] = []

    def reducer_override(self, obj: Any) -> Any:
        # Called for every object outside pickle's fast path (exact built-in scalars and containers), classes
        # and functions included, so this is the one place that decides what may cross.
        if any(obj is function for function in _STAND_IN_FUNCTIONS):
            return NotImplemented
        if obj is JOINED:
            return _joined, ()
        if type(obj) is OutOfBand:
            return _outOfBand, (obj.index, obj.mutable, obj.typecode) if obj.typecode else (obj.index, obj.mutable)
        if isinstance(obj, type):
            raise UnsendableError(f"cannot send the class {_name(obj)} itself; only values cross")
        if obj is not self.verbatim:
            found = registry.match(obj)
            if found is not None and found.synchronous:
                # Plain functions on both sides: the adapted data travels in place, the cheap path.
                return _inline, (found.key, found.module, _callInline(found, "encode", obj))
            if found is not None:
                number = self.session.segmentFor(obj, found)
                self.refers.append(number)
                return _segment, (number,)
        # After the adapters (which take precedence, and are asked of far more objects), before the kinds that cross
        # as they are: a JavaScript Error is an exception to Python, yet travels best as itself.
        if self.attachments is not None and self.attachments.accepts(obj):
            try:
                return _attached, (self.attachments.attach(obj),)
            except TypeError as error:
                raise _Unattachable(obj, error) from error
        kind = type(obj)
        if isRebuildableClass(kind):
            return _recipe(obj, kind)
        if self.callbacks is not None and isinstance(obj, CALLABLE_TYPES):
            self.callbacks.append(obj)
            return _callback, (len(self.callbacks) - 1,)
        if kind is memoryview:
            return _construct, ("builtins", "bytes", (obj.tobytes(),), None)
        raise UnsendableError(_unsendableMessage(kind))


@dataclasses.dataclass
class _Pending:
    obj: Any
    adapter: Adapter


class _Encoding:
    """One encode: the root pickle and one segment per distinct adapted object, in the order they were met."""

    def __init__(
        self, attachments: Attachments | None = None, limit: int = NESTING_LIMIT, callbacks: list[Any] | None = None
    ) -> None:
        self.attachments = attachments
        self.callbacks = callbacks
        self.limit = limit
        self.pickles: list[bytes] = []
        self.refers: list[tuple[int, ...]] = []
        self.pending: list[_Pending] = []
        self.numbers: dict[int, int] = {}  # id(obj) -> segment number; pending keeps the objects alive

    def segmentFor(self, obj: Any, adapter: Adapter) -> int:
        number = self.numbers.get(id(obj))
        if number is None:
            self.pending.append(_Pending(obj, adapter))
            number = self.numbers[id(obj)] = len(self.pending)
        return number

    def dump(self, value: Any, where: str, verbatim: object = None) -> None:
        _checkNesting(value, where, self.limit)  # before pickling: the pickler's recursion would break on a deep one
        buffer = io.BytesIO()
        pickler = _Pickler(buffer, self, verbatim)
        try:
            pickler.dump(value)
        except _Failed as failed:
            place = _placeOf(failed.obj, value, where)
            raise _adapterError(failed.adapter, "encode", place, failed.cause) from failed.cause
        except _Unattachable as failed:
            raise UnsendableError(f"{_placeOf(failed.obj, value, where)}: {failed.reason}") from None
        except UnsendableError as error:
            raise UnsendableError(f"{_locate(value, where) or where}: {error}") from None
        except RecursionError as error:
            raise UnsendableError(
                f"{where}: {error}: the value nests too deeply, or an adapter's encode returns data that holds the "
                f"object it encodes"
            ) from error
        except (MemoryError, OverflowError) as error:
            raise UnsendableError(f"{where}: too large to send ({type(error).__name__}: {error})") from None
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise UnsendableError(f"{_locate(value, where) or where}: {error}") from error
        self.pickles.append(buffer.getvalue())
        self.refers.append(tuple(pickler.refers))

    def payload(self) -> bytes:
        if len(self.pickles) == 1:
            return self.pickles[0]
        keys = tuple(pending.adapter.key for pending in self.pending)
        modules = tuple(pending.adapter.module for pending in self.pending)
        _decodingOrder(self.refers, keys, UnsendableError)  # a cycle through adapters is refused here, not there
        index = pickle.dumps((keys, modules, tuple(self.refers)), protocol=PROTOCOL)
        parts = [index, *self.pickles]
        header = MAGIC + struct.pack(f"<I{len(parts)}Q", len(parts), *(len(part) for part in parts))
        return b"".join([header, *parts])


async def encodeAsync(
    value: Any,
    *,
    where: str = "value",
    attachments: Attachments | None = None,
    envelope: int = 0,
    callbacks: list[Any] | None = None,
) -> bytes:
    """Turn ``value`` into a payload, awaiting ``async`` adapter encoders.

    Raises :class:`UnsendableError` naming the part that cannot cross, and :class:`~workerlib.AdapterError` naming
    the adapter when an adapter's ``encode`` fails. ``where`` names the value in messages, such as ``args``.
    Objects that ``attachments`` accepts are recorded there and travel beside the payload; decode the payload with
    the same objects, in the same order, as ``attached``. ``envelope`` is how many levels of ``value`` wrap what it
    carries (a request's tuples): the nesting limit counts from below them. With ``callbacks``, a list, callables
    (:data:`CALLABLE_TYPES`) are appended to it and travel as references to their index (decode with ``callback``).
    """
    if isSmallAndPlain(value, 3):
        return pickle.dumps(value, protocol=PROTOCOL)  # nothing the reducer would look at: skip it
    encoding = _Encoding(attachments, NESTING_LIMIT + envelope, callbacks)
    encoding.dump(value, where)
    done = 0
    while done < len(encoding.pending):  # encoding a segment may add more
        pending = encoding.pending[done]
        done += 1

        place = functools.partial(_placeOf, pending.obj, value, where)
        data = await _runAdapter(pending.adapter, "encode", pending.obj, place)
        encoding.dump(
            data,
            f"{pending.adapter.key} adapter output",
            verbatim=pending.obj if pending.adapter.encode is None else None,
        )
    return encoding.payload()


_SCALARS = NATIVE_TYPES & SCALARS  # those the pickler writes itself (complex goes through the reducer)
_SMALL = 16


def _checkNesting(value: Any, where: str, limit: int) -> None:
    if nesting.exceeds(value, limit):
        nesting.keep(value)  # the caller's: never freed here, where freeing a deep value overflows Pyodide's stack
        raise UnsendableError(
            f"{where}{nesting.deepestPath(value, limit)}: nests deeper than workerlib.codec.NESTING_LIMIT "
            f"({NESTING_LIMIT}) levels, the most a value may to cross; flatten it, or send it in parts"
        )


def isSmallAndPlain(value: Any, depth: int) -> bool:
    """Whether ``value`` is built of a few exact built-in scalars in tuples, lists and dicts: the calls most made.

    Such a value pickles without ever reaching :meth:`_Pickler.reducer_override`, so the plain C pickler gives the
    same bytes, at a fraction of the cost of setting up a checking one. Bounded in size and depth, so the check
    itself stays cheap; plain loops, as generator expressions cost more than the check.
    """
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind not in (tuple, list, dict) or depth == 0 or len(value) > _SMALL:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) not in _SCALARS or (type(item) not in _SCALARS and not isSmallAndPlain(item, depth - 1)):
                return False
        return True
    for item in value:  # noqa: SIM110 - a plain loop: all() over a generator costs more than the check
        if type(item) not in _SCALARS and not isSmallAndPlain(item, depth - 1):
            return False
    return True


def encode(value: Any, *, where: str = "value", attachments: Attachments | None = None, envelope: int = 0) -> bytes:
    """:func:`encodeAsync` for callers that cannot await: fails if an adapter's ``encode`` really suspends."""
    coroutine = encodeAsync(value, where=where, attachments=attachments, envelope=envelope)
    return _runToCompletion(coroutine, f"{where}: an adapter's async encode")


TREE_PART = b"WLt1"
"""First bytes of a part sent as a tree (see :func:`encodePart`); any other part is a plain pickle."""

PART_BYTES_PER_ENTRY = 256
"""What a part sent as a tree may take per place in it (see :func:`encodePart`) before it is sent as a plain pickle
instead: its strings are spelled out wherever they stand, so one shared long string must not be written thousands
of times."""


def encodePart(items: list[Any]) -> bytes | None:
    """The payload of ``items``, a slice of a list sent ahead in parts, or None when it cannot travel as one.

    A part is decoded on arrival, before the payload it belongs to, and on its own: so only a tree of built-in
    values, nothing in it held by anything but its parent (not by another part, nor by a variable), within
    :data:`NESTING_LIMIT`. Whether a part may go is known from one walk of its items (``nesting.treeShape``); the
    caller sends the whole list in its payload instead when one may not.

    A part goes as a tree: ``TREE_PART | u32 length | keys | pickle``, the keys (one dict's of each level,
    NUL-separated UTF-8) preset in the pickler's memo and the pickle made without memoizing anything else, so dicts
    refer to their keys and everything else is spelled out where it stands. A receiver that finds nothing memoized
    after loading it knows that no container is held twice, and measures its depth without a budget. A part whose
    tree would take more than :data:`PART_BYTES_PER_ENTRY` per place (long strings, shared) goes as a plain pickle.
    """
    shape = nesting.treeShape(items, NESTING_LIMIT, held=1)
    if shape is None:
        return None
    if shape.depth > 1 and _TREES:  # (a flat part costs its receiver least as a plain pickle: one look at its types)
        payload = _treePart(items, shape)
        if payload is not None:
            return payload
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, _Encoding(), None).dump(items)
    except _PART_FAILURES:
        return None
    return buffer.getvalue()


_PART_FAILURES = (
    UnsendableError,
    pickle.PicklingError,
    TypeError,
    ValueError,
    MemoryError,
    OverflowError,
    RecursionError,
)


def _treePart(items: list[Any], shape: nesting.TreeShape) -> bytes | None:
    """A part sent as a tree (see :func:`encodePart`), or None when it would outgrow its bound."""
    keys = [key for key in shape.keys if key and "\0" not in key]  # (NUL-separated: an empty key would vanish)
    head = "\0".join(keys).encode("utf-8", "surrogatepass")
    buffer = _Bounded(len(TREE_PART) + 4 + len(head) + PART_BYTES_PER_ENTRY * shape.entries + 4096)
    buffer.write(TREE_PART + struct.pack("<I", len(head)) + head)
    pickler = _Pickler(buffer, _Encoding(), None)
    pickler.fast = True  # nothing memoized: a receiver can tell that nothing is held twice
    pickler.memo = {id(key): (index, key) for index, key in enumerate(keys)}
    try:
        pickler.dump(items)  # built-in values: the pickler's fast path throughout
    except (_TooLong, *_PART_FAILURES):
        return None
    return buffer.getvalue()


def _treesWork() -> bool:
    """Whether this Python's pickler still has a fast mode that memoizes nothing (documented, though marked as
    deprecated): without it a tree's receiver would find its memo full and refuse the part."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, PROTOCOL)
    pickler.fast = True
    pickler.dump([["x"], {"k": []}])
    return b"\x94" not in buffer.getvalue()


_TREES = _treesWork()


class _TooLong(Exception):
    """A part sent as a tree outgrew its bound."""


class _Bounded(io.BytesIO):
    """A buffer that refuses to grow past ``bound`` bytes (the pickler writes a frame, or a long string, at once)."""

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.bound:
            raise _TooLong
        return super().write(data)


def decodePart(payload: bytes | memoryview, depths: list[int] | None = None) -> list[Any]:
    """The items of one part of a list sent ahead in parts (see :func:`encodePart`), checked like any payload;
    :class:`DecodeError` unless it holds a list and nothing that needs more than itself (adapted segments,
    attached values, buffers, callbacks), and, for a part sent as a tree, unless its pickle memoizes nothing.

    With ``depths``, the part's depth is appended to it (measured in C as the check walks it): the list the parts
    build nests as deep as the deepest of them (:class:`Joined`)."""
    start = bytes(payload[: len(MAGIC)])
    if start == MAGIC:
        raise DecodeError("refusing a part of a list sent in parts: it has segments, which parts never have")
    if start == TREE_PART:
        keys, body = _treeKeys(payload)
        value = _load(body, {}, preset=keys, depths=depths)
    else:
        value = _load(payload, {}, depths=depths)
    if type(value) is not list:
        raise DecodeError(f"refusing a part of a list sent in parts: it holds {type(value).__qualname__}, not a list")
    return value


def _treeKeys(payload: bytes | memoryview) -> tuple[list[str], bytes]:
    """The keys and the pickle of a part sent as a tree."""
    view = memoryview(payload)
    at = len(TREE_PART) + 4
    if len(view) < at:
        raise DecodeError("malformed part of a list sent in parts: it ends inside its head")
    (length,) = struct.unpack_from("<I", view, len(TREE_PART))
    if length > len(view) - at:
        raise DecodeError(f"malformed part of a list sent in parts: its keys take {length} bytes, past its end")
    try:
        text = str(view[at : at + length], "utf-8", "surrogatepass")
    except UnicodeDecodeError as error:
        raise DecodeError(f"malformed part of a list sent in parts: its keys are not UTF-8 ({error})") from None
    keys = text.split("\0") if length else []
    if len(keys) > nesting.PART_KEYS:
        raise DecodeError(f"refusing a part of a list sent in parts: {len(keys)} keys, past {nesting.PART_KEYS}")
    return keys, bytes(view[at + length :])  # one copy, which the preamble is joined to anyway


def _preamble(keys: list[str]) -> bytes:
    """A pickle that memoizes ``keys`` (as entries 0, 1, ...) and returns None: read before a tree part's own."""
    opcodes = [b"\x80\x05("]
    for key in keys:
        data = key.encode("utf-8", "surrogatepass")
        size = b"\x8c" + bytes([len(data)]) if len(data) < 256 else b"X" + struct.pack("<I", len(data))
        opcodes.append(size + data + b"\x94")
    opcodes.append(b"1N.")  # POP_MARK: the keys stay in the memo alone
    return b"".join(opcodes)


# ---- decoding ------------------------------------------------------------------------------------------------------


class _Unpickler(pickle.Unpickler):
    """Rebuilds one segment, screened first. The only globals it resolves are its own stand-ins, each a method named
    after the stand-in (``_construct`` -> :meth:`constructValue`)."""

    def __init__(
        self,
        data: bytes | memoryview,
        resolved: dict[int, Any],
        attached: Sequence[Any],
        buffers: Sequence[Any],
        budget: screening.Budget,
        callback: Callable[[int], Any] | None = None,
        joined: Joined | list[Any] | Exception | None = None,
    ) -> None:
        # A stream, not the bytes themselves: the unpickler then never reads past what the payload holds.
        super().__init__(io.BytesIO(data))
        self.resolved = resolved
        self.attached = attached
        self.buffers = buffers
        self.budget = budget
        self.callback = callback
        self.joined = joined
        self.used: set[tuple[str, int]] = set()  # buffers, attached values and callbacks already placed: once each
        self.classes: dict[tuple[str, str], type] | None = None  # made on first use: most payloads name no class
        self.unfilled: dict[int, Any] = {}  # objects construct() made that may still get their state, once

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name in screening.EVERY_STAND_IN:
            # Bound methods of this unpickler, which hold its state; the screen let through only these names.
            return getattr(self, name.lstrip("_") + "Value")
        # Pickle globals are never resolved to classes: a class on the stack could be called or changed.
        raise DecodeError(f"refusing the global {module}.{name}: payloads name only workerlib's stand-ins")

    def once(self, what: str, index: Any, count: int) -> int:
        """``index`` as the place of a value that came beside the payload: in range, and used once (the encoder
        memoizes what it makes, so a second use is a second copy, or the same JavaScript object twice)."""
        if type(index) is not int or not 0 <= index < count:
            raise DecodeError(f"malformed payload: reference to {what} {index!r}, but {count} came with it")
        if (what, index) in self.used:
            raise DecodeError(f"malformed payload: {what} {index} is used twice")
        self.used.add((what, index))
        return index

    def segmentValue(self, number: Any) -> Any:
        try:
            return self.resolved[number]
        except (KeyError, TypeError):
            raise DecodeError(f"malformed payload: reference to segment {number!r}, which is not decoded") from None

    def attachedValue(self, index: Any) -> Any:
        return self.attached[self.once("attached value", index, len(self.attached))]

    def callbackValue(self, index: Any) -> Any:
        if self.callback is None:
            raise DecodeError("refusing a callback in a payload that cannot carry one (only a call's arguments can)")
        return self.callback(self.once("callback", index, _MAX_CALLBACK))

    def joinedValue(self) -> Any:
        joined, self.joined = self.joined, None  # once: a list sent in parts has one place
        if joined is None:
            raise DecodeError("malformed payload: it refers to a list sent in parts, and no parts came before it")
        if isinstance(joined, Exception):
            raise DecodeError(f"a part of a list sent in parts was refused: {joined}") from joined
        return joined.items if isinstance(joined, Joined) else joined

    def outOfBandValue(self, index: Any, mutable: Any, typecode: Any = "") -> Any:
        if type(mutable) is not bool:
            raise DecodeError(f"malformed payload: reference to buffer {index!r} ({mutable!r})")
        buffer = self.buffers[self.once("buffer", index, len(self.buffers))]
        if typecode == "":
            return bytearray(buffer) if mutable else bytes(buffer)  # bytes(b) is b itself for a bytes object
        return unpackNumbers(typecode, buffer)

    def inlineValue(self, key: Any, module: Any, data: Any) -> Any:
        found = _adapterFor(key, module)
        if not found.synchronous:
            raise DecodeError(
                f"received a value adapted in place by {key}, whose adapter here is async; register the same "
                f"adapter on both sides (module {module!r})"
            )
        try:
            return _callInline(found, "decode", data)
        except _Failed as failed:
            raise _adapterError(found, "decode", f"a received {key}", failed.cause) from failed.cause

    def constructValue(self, module: Any, qualname: Any, args: Any, state: Any) -> Any:
        cls = self.lookup(module, qualname)
        if type(args) is tuple:
            # What building costs beyond the screen's count: parsing digits, a gcd. A string or an int the payload
            # memoized once can be referred to many times, so each use is charged here, by its size.
            for arg in args:
                if type(arg) is str or type(arg) is bytes:
                    self.budget.charge(len(arg), f"building a {qualname}")
                elif type(arg) is int:
                    words = arg.bit_length() // 64
                    self.budget.charge(words * 8 + words * words // 64, f"building a {qualname}")  # copies, a gcd
        obj = rebuild.construct(cls, args, state)
        if rebuild.takesState(type(obj)):
            self.unfilled[id(obj)] = obj
        return obj

    def fillValue(self, obj: Any, state: Any) -> None:
        # Only an object this payload made, and only once: never a shared one (an Enum member, a class...).
        if self.unfilled.pop(id(obj), None) is not obj:
            raise DecodeError("refusing a payload that gives state to an object it did not just make")
        rebuild.giveState(obj, state)

    def memberValue(self, module: Any, qualname: Any, value: Any) -> Any:
        cls = self.lookup(module, qualname)
        if not issubclass(cls, Enum):
            raise DecodeError(f"malformed payload: {module}.{qualname} is not an Enum")
        return rebuild.member(cls, value)

    def lookup(self, module: Any, qualname: Any) -> type:
        key = (module, qualname)
        if self.classes is None:
            self.classes = {}
        found = self.classes.get(key)
        if found is None:
            found = self.classes[key] = rebuild.findClass(module, qualname)
        return found


def _loadQuick(data: bytes | memoryview) -> Any:
    # The calls made most: a few built-in values, with nothing to call and too short to nest past the limit.
    try:
        return pickle.loads(data)
    except Exception as error:
        raise DecodeError(f"malformed payload ({len(data)} bytes): {type(error).__name__}: {error}") from None


def _load(
    data: bytes | memoryview,
    resolved: dict[int, Any],
    attached: Sequence[Any] = (),
    buffers: Sequence[Any] = (),
    limit: int = NESTING_LIMIT,
    callback: Callable[[int], Any] | None = None,
    joined: Joined | list[Any] | Exception | None = None,
    preset: list[str] | None = None,
    depths: list[int] | None = None,
) -> Any:
    if len(data) < _TINY and preset is None and depths is None and screening.isQuick(data):
        return _loadQuick(data)
    # One budget for all the work this payload causes: the screen, the stand-ins' building, the measure after.
    budget = screening.Budget(len(data) + sum(map(len, buffers)))
    standIns = _STAND_INS_ALWAYS | _standInsFor(resolved, attached, buffers, callback, joined)
    keys = len(preset) if preset is not None else -1
    joinedDepth = joined.depth if isinstance(joined, Joined) else -1
    verdict = screening.screen(data, limit, keys=keys, standIns=standIns, budget=budget, joinedDepth=joinedDepth)
    stream = data if preset is None else _preamble(preset) + data
    unpickler = _Unpickler(stream, resolved, attached, buffers, budget, callback, joined)
    # Every container a payload builds is new and alive: the collector's passes during the load would find nothing
    # to free (about a tenth of the load's time on records), so it waits until the value is built.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if preset is not None:
            unpickler.load()  # the preamble: the keys go into the memo
        value = unpickler.load()
    except (DecodeError, AdapterError):
        _dismantleMemo(unpickler)
        raise
    except Exception as error:
        _dismantleMemo(unpickler)
        raise DecodeError(f"malformed payload ({len(data)} bytes): {type(error).__name__}: {error}") from error
    finally:
        if collecting:
            gc.enable()
    if depths is not None:
        # A part: its depth is wanted, and measuring it is its check (one level walk in C, exact for a tree; a plain
        # part whose shared items outgrow the walk's budget is measured exactly).
        found = nesting.levelsDepth(value, limit, None if preset is not None else 2 * len(data) + 4096)
        if found is None and preset is None:
            found = nesting.depthOf(value, limit + 1)
        if found is None or found > limit:
            deeper = True
        else:
            deeper = False
            depths.append(found)
    elif verdict == screening.EXACT:
        return value
    elif preset is not None:
        # A tree part memoizes nothing: nothing in it is held twice, and its levels add up to its length.
        deeper = len(data) >= limit and nesting.exceedsTree(value, limit)
    elif verdict == screening.QUICK:
        # Built-in values, each from at most one opcode: their levels add up to less than the payload's length,
        # unless parts are shared.
        deeper = len(data) >= limit and nesting.exceedsPlain(value, 2 * len(data) + 4096, limit)
    else:
        # A cycle, or values built elsewhere (a list sent in parts, adapted segments): measured as the encoder
        # measures, on the value itself, a level at a time in C where it can (nesting.exceeds).
        deeper = nesting.exceeds(value, limit)
    if deeper:
        nesting.dismantle(value)  # ours alone: emptied, so that freeing it cannot overflow the stack
        raise DecodeError(f"refusing a payload whose value nests deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
    return value


_STAND_INS_ALWAYS = frozenset({"_construct", "_member", "_fill", "_inline"})
_TINY = NESTING_LIMIT  # a payload this short cannot nest deeper than the limit: each level takes a byte at least


def _standInsFor(
    resolved: dict[int, Any],
    attached: Sequence[Any],
    buffers: Sequence[Any],
    callback: Callable[[int], Any] | None,
    joined: Joined | list[Any] | Exception | None,
) -> frozenset[str]:
    """The stand-ins that refer to what came beside a payload, for those of its companions that came."""
    names = []
    if resolved:
        names.append("_segment")
    if attached:
        names.append("_attached")
    if buffers:
        names.append("_outOfBand")
    if callback is not None:
        names.append("_callback")
    if joined is not None:
        names.append("_joined")
    return frozenset(names)


def _dismantleMemo(unpickler: _Unpickler) -> None:
    """Empty the containers a refused load made, so that freeing a half-built value cannot overflow the stack."""
    try:
        memo = unpickler.memo.copy()
    except Exception:  # pragma: no cover - the memo proxy of the C unpickler always copies
        return
    for value in memo.values():
        nesting.dismantle(value)


def _split(view: memoryview) -> list[memoryview]:
    """The parts of a framed payload, checked against its length."""
    try:
        (count,) = struct.unpack_from("<I", view, len(MAGIC))
        if not 2 <= count <= len(view):
            raise ValueError(f"{count} parts")
        offset = len(MAGIC) + 4 + 8 * count
        lengths = struct.unpack_from(f"<{count}Q", view, len(MAGIC) + 4)
    except (struct.error, ValueError) as error:
        raise DecodeError(f"malformed payload ({len(view)} bytes): bad frame header: {error}") from None
    if offset + sum(lengths) != len(view):
        raise DecodeError(f"malformed payload ({len(view)} bytes): frame lengths add up to {offset + sum(lengths)}")
    parts = []
    for length in lengths:
        parts.append(view[offset : offset + length])
        offset += length
    return parts


def _readIndex(part: memoryview, segments: int) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[int, ...], ...]]:
    index = _load(part, {})
    try:
        keys, modules, refers = index
        valid = (
            len(keys) == len(modules) == segments
            and len(refers) == segments + 1
            and all(isinstance(name, str) for name in (*keys, *modules))
            and all(isinstance(n, int) and 1 <= n <= segments for numbers in refers for n in numbers)
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise DecodeError(f"malformed payload: a frame index that does not describe {segments} segments")
    return keys, modules, refers


def decodeQuick(payload: bytes | memoryview, envelope: int = 0) -> tuple[bool, Any]:
    """``(True, value)`` for a short payload of the screen's quick grammar (a few built-in values: nothing in it can
    call anything or nest past the limit), decoded at once; ``(False, None)`` for any other, which
    :func:`decodeAsync` decodes. ``envelope`` as for :func:`decodeAsync`."""
    # Too short to nest past the limit, whatever the envelope: each level takes a byte at least.
    if len(payload) < _TINY and payload[:4] != MAGIC and screening.isQuick(payload):
        return True, _loadQuick(payload)
    return False, None


async def decodeAsync(
    payload: bytes | bytearray | memoryview,
    *,
    attached: Sequence[Any] = (),
    buffers: Sequence[Any] = (),
    envelope: int = 0,
    callback: Callable[[int], Any] | None = None,
    joined: Joined | list[Any] | Exception | None = None,
) -> Any:
    """Rebuild the value a payload holds, awaiting ``async`` adapter decoders.

    ``attached`` are the values that travelled beside the payload (see :class:`Attachments`), ``buffers`` the
    buffers its :class:`OutOfBand` stand-ins refer to. Raises
    :class:`DecodeError` saying why a payload cannot be decoded, and :class:`~workerlib.AdapterError` naming the
    adapter when an adapter's ``decode`` fails. ``envelope`` as for :func:`encodeAsync`. ``callback`` makes the
    stand-in for the callable a payload refers to by index (see ``callbacks`` of :func:`encodeAsync`); without it a
    payload referring to one is refused. ``joined`` is the list built from the parts sent ahead of the payload
    (:func:`decodePart`), which takes the place of :data:`JOINED`, or the error that refused one of them.
    """
    limit = NESTING_LIMIT + envelope
    if isinstance(payload, bytes) and not payload.startswith(MAGIC):
        # io.BytesIO shares a bytes object: no copy of a large payload
        return _load(payload, {}, attached, buffers, limit, callback, joined)
    view = memoryview(payload).cast("B")
    if view[: len(MAGIC)] != MAGIC:
        return _load(view, {}, attached, buffers, limit, callback, joined)
    parts = _split(view)
    keys, modules, refers = _readIndex(parts[0], len(parts) - 2)
    resolved: dict[int, Any] = {}
    for number in _decodingOrder(refers, keys, DecodeError):
        key = keys[number - 1]
        found = _adapterFor(key, modules[number - 1])
        data = _load(parts[number + 1], resolved, attached, buffers, limit, callback)
        resolved[number] = await _runAdapter(found, "decode", data, functools.partial("a received {}".format, key))
    return _load(parts[1], resolved, attached, buffers, limit, callback, joined)


def _adapterFor(key: Any, module: Any) -> Adapter:
    found = registry.byKey.get(key) if isinstance(key, str) else None
    if found is None:
        raise DecodeError(
            f"received a value encoded by the adapter for {key}, registered in module {module!r} on the sending "
            f"side, but no adapter for it is registered on this side; import {module} here as well (or register "
            f"one with @adapter({str(key).rsplit('.', 1)[-1]}))"
        )
    return found


def decode(
    payload: bytes | bytearray | memoryview, *, attached: Sequence[Any] = (), buffers: Sequence[Any] = ()
) -> Any:
    """:func:`decodeAsync` for callers that cannot await: fails if an adapter's ``decode`` really suspends."""
    return _runToCompletion(decodeAsync(payload, attached=attached, buffers=buffers), "an adapter's async decode")


def _decodingOrder[E: Exception](
    refers: tuple[tuple[int, ...], ...] | list[tuple[int, ...]], keys: tuple[str, ...], error: type[E]
) -> list[int]:
    """Segment numbers, each after the segments it refers to; ``error`` if adapted objects refer to each other."""
    order: list[int] = []
    state: dict[int, bool] = {}  # False while its references are being visited, True once placed
    for start in refers[0]:
        stack: list[tuple[int, Iterator[int]]] = []
        if start not in state:
            state[start] = False
            stack.append((start, iter(refers[start])))
        while stack:
            number, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[number] = True
                order.append(number)
            elif child not in state:
                state[child] = False
                stack.append((child, iter(refers[child])))
            elif state[child] is False:
                chain = " -> ".join(keys[n - 1] for n, _ in stack[[n for n, _ in stack].index(child) :])
                raise error(
                    f"adapted objects refer to each other in a cycle ({chain} -> {keys[child - 1]}); "
                    f"an adapter's encode must not return data holding the object it encodes"
                )
    return order


# ---- shared helpers ------------------------------------------------------------------------------------------------


async def _runAdapter(found: Adapter, direction: str, value: Any, place: Callable[[], str]) -> Any:
    function = found.encode if direction == "encode" else found.decode
    if function is None:
        return value
    try:
        result = function(value)
        if inspect.isawaitable(result):
            result = await result
    except Exception as error:
        raise _adapterError(found, direction, place(), error) from error
    return result


def _adapterError(found: Adapter, direction: str, place: str, cause: BaseException) -> AdapterError:
    """The error for an adapter that failed, naming it and the value's place; raise it ``from`` the adapter's own."""
    return AdapterError(f"the {found} failed to {direction} {place}: {type(cause).__name__}: {cause}", adapter=found)


def _placeOf(obj: Any, value: Any, where: str) -> str:
    """Where ``obj`` sits in ``value``, for messages; a walk over the whole value, so only on failure."""
    return _locate(value, where, lambda candidate: candidate is obj) or f"a {type(obj).__qualname__} in {where}"


def runNow[T](coroutine: Coroutine[Any, Any, T], what: str) -> T:
    """Run a coroutine that is not expected to suspend (an encode without ``async`` adapters) to its end, now."""
    return _runToCompletion(coroutine, what)


def _runToCompletion[T](coroutine: Coroutine[Any, Any, T], what: str) -> T:
    # Drives a coroutine that is expected never to suspend; encode()/decode() share the async code this way.
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError(f"{what} awaited something; use encodeAsync()/decodeAsync() from async code")


def _name(kind: type) -> str:
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _unsendableMessage(kind: type) -> str:
    if issubclass(kind, (types.GeneratorType, types.AsyncGeneratorType)):
        return (
            f"cannot send {_name(kind)}; make the service method itself a generator (a def or async def "
            f"with yield): its client method then streams the items (async for item in client.method(...)), or "
            f"send a list of them"
        )
    if issubclass(kind, types.CoroutineType):
        return "cannot send coroutine; await it in the worker and send its result"
    if issubclass(kind, CALLABLE_TYPES):
        return (
            f"cannot send {_name(kind)}; a callable crosses only as an argument of a call into a worker "
            f"(it arrives there as a callback to the main thread): send data here instead, and keep the function "
            f"on the side that runs it (a service method, or an argument of the call)"
        )
    return f"cannot send {_name(kind)}; register an adapter with @adapter({kind.__qualname__})"


def _isSendableLeaf(obj: Any) -> bool:
    kind = type(obj)
    if kind in CROSSING or registry.match(obj) is not None:
        return True
    return isRebuildableClass(kind) or kind is memoryview or obj is JOINED


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if type(obj) is dict:
        for key, item in obj.items():
            yield f"[{key!r}] (key)", key
            yield f"[{key!r}]", item
    elif type(obj) in (list, tuple) or (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        for index, item in enumerate(obj):
            yield f"[{index}]", item
    elif type(obj) in (set, frozenset):
        for item in obj:
            yield f"{{{item!r}}}", item
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield f".{field.name}", getattr(obj, field.name, None)
    elif isinstance(obj, BaseException):
        for index, item in enumerate(obj.args):
            yield f".args[{index}]", item


def _locate(value: Any, root: str, isBad: Callable[[Any], bool] | None = None) -> str | None:
    """Path to the first part of ``value`` that cannot be sent, like ``args[1]['points'][3]``, or None.

    Only called once something went wrong (or to name an adapted object's place), so it may be slow.
    """
    bad = isBad or (lambda obj: not _isSendableLeaf(obj))
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, obj = stack.pop()
        if bad(obj):
            return path
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        # Reversed so the first child is examined first: the error names the earliest offender.
        stack.extend((path + step.removesuffix(" (key)"), child) for step, child in reversed(list(_children(obj))))
    return None
