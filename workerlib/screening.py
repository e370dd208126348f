"""The screen every payload passes before CPython's unpickler reads it.

The C unpickler is fast but trusts its input: a declared length is allocated before it is read, a memo index sizes
the memo, ``BUILD`` sets state on whatever is on its stack, ``APPENDS`` calls ``extend`` on whatever is below the
mark, nested tuples are hashed recursively. :func:`screen` reads a payload as the unpickler would, without building
anything, and refuses it (:class:`~workerlib.DecodeError`) unless it only does what workerlib's encoder does:

* only the opcodes protocol 5 uses for workerlib's values: no ``BUILD``, ``GLOBAL``, ``INST``, ``OBJ``, ``NEWOBJ``,
  extension codes, persistent ids, or ``PUT`` (the memo grows one ``MEMOIZE`` at a time);
* every declared length fits in what is left of the payload;
* ``STACK_GLOBAL`` only names a class the decoder resolves (its own stand-ins, checked there), and ``REDUCE`` only
  calls what it named, with a tuple;
* ``APPEND(S)``, ``SETITEM(S)`` and ``ADDITEMS`` only fill the list, dict or set just made for them;
* nothing nests deeper than :data:`~workerlib.nesting.NESTING_LIMIT`, and no dict or set receives many big-int keys
  sharing one hash (an ``int``'s hash is its value modulo a prime, so such keys are trivial to craft and make
  building the dict quadratic).

Reading a payload opcode by opcode in Python costs about as much as unpickling it ten times over, so the values
sent most (built-in scalars, strings, bytes, lists, dicts, sets and tuples of scalars) are screened by one regular
expression: a payload made only of those opcodes cannot run code or build anything but built-in values, its tuples
cannot nest (each tuple of the grammar holds scalars, and only a handful of other tuple opcodes are allowed), and
its lists and dicts are measured after unpickling when there are more than :data:`NESTING_LIMIT` of them. Anything
else gets the full reading.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Callable

from .errors import DecodeError
from .nesting import NESTING_LIMIT

HASH_FLOOD_LIMIT = 64
"""How many big-int keys of one dict or set may share a hash; a payload with more is refused as hash flooding."""

HASHED_SIZE_LIMIT = 1_000_000
"""How many values a key (or an Enum value looked up) may hold, counting a value shared by several places once per
place: hashing and comparing walk it that way, so a few bytes of tuples made of memoized tuples would take 2**40
steps."""

NUMERIC_KEY_LIMIT = 1024
"""How many keys of one dict or set may be tuples or objects holding numbers whose hash a sender can choose (ints
beyond 2**61, ``Decimal``, ``Fraction``, ``UUID``); their hashes are not checked one by one, so they are counted."""

_TUPLE_BUDGET = 8  # tuple opcodes the quick grammar allows besides tuples of scalars: an envelope or two


# ---- the quick grammar -------------------------------------------------------------------------------------------


def _counted(op: bytes, longest: int) -> bytes:
    """An opcode followed by a one-byte length and that many bytes, for every length up to ``longest``."""
    branches = b"|".join(re.escape(bytes([n])) + b".{%d}" % n for n in range(longest + 1))
    return re.escape(op) + b"(?:" + branches + b")"


# MARK, APPEND(S), SETITEM(S), ADDITEMS, MEMOIZE, None, True, False, (), EMPTY_LIST/DICT/SET: one byte each, matched
# as runs of a character class (one step of sre each), between the opcodes with arguments.
_SIMPLE = b"[(aesu\\x90\\x94N\\x88\\x89)\\]}\\x8f]*"
_RUN = re.compile(
    b"(?:"
    + _SIMPLE
    + b"(?:"
    + b"|".join(
        [  # roughly the most frequent first: sre tries them in order (each starts with its own byte)
            b"h.",  # BINGET (the unpickler checks the index)
            _counted(b"\x8c", 255),  # SHORT_BINUNICODE
            b"J....",  # BININT
            b"K.",  # BININT1
            b"M..",  # BININT2
            b"G.{8}",  # BINFLOAT
            _counted(b"C", 255),  # SHORT_BINBYTES
            _counted(b"\x8a", 7),  # LONG1 below 2**55: below the hash modulus, so no two share a hash
            b"j....",  # LONG_BINGET
            b"\\x95.{8}",  # FRAME (read from a stream that ends where the payload does)
        ]
    )
    + b"))*+"
    + _SIMPLE,
    re.DOTALL,
)
_TUPLES = frozenset(b"\x85\x86\x87t")
_SIZED = {  # opcode -> width of its length: allocated before they are read, so checked here
    ord("X"): 4,  # BINUNICODE
    0x8D: 8,  # BINUNICODE8
    ord("B"): 4,  # BINBYTES
    0x8E: 8,  # BINBYTES8
    0x96: 8,  # BYTEARRAY8
}
_LENGTH = {4: struct.Struct("<I"), 8: struct.Struct("<Q")}


def screen(data: bytes | memoryview, limit: int = NESTING_LIMIT, preset: int = 0) -> bool:
    """Refuse ``data`` unless it is a payload workerlib's encoder could have made (see the module).

    Returns True for a payload of built-in values only, whose depth the caller measures after unpickling it (when it
    is at least :data:`NESTING_LIMIT` bytes long: a shorter one cannot nest deeper); False when the full reading
    checked it, depth included. ``preset``: how many strings the unpickler's memo holds before the payload is read
    (the keys of a part sent as a tree, see :func:`workerlib.codec.decodePart`).
    """
    if isinstance(data, memoryview):
        data = data.tobytes() if len(data) < 4096 else data
    size = len(data)
    if size < 3 or data[0] != 0x80 or data[1] != 5 or data[size - 1] != 0x2E:
        raise DecodeError(f"malformed payload ({size} bytes): not a protocol 5 pickle ending in STOP")
    end = size - 1
    position, tuples = 2, 0
    run = _RUN.match
    while True:
        position = run(data, position, end).end()  # type: ignore[union-attr]
        if position == end:
            return True
        op = data[position]
        if op in _TUPLES and tuples < _TUPLE_BUDGET:
            tuples += 1
            position += 1
        elif op in _SIZED:
            width = _SIZED[op]
            length = _declared(data, position + 1, width, end)
            position += 1 + width + length
        else:
            break
    _Reader(data, limit, preset).read()
    return False


def _declared(data: bytes | memoryview, at: int, width: int, end: int) -> int:
    """The length an opcode at ``at - 1`` declares, checked against the bytes before ``end``."""
    if at + width > end:
        raise DecodeError(f"malformed payload: a length at byte {at} runs past the end")
    (length,) = _LENGTH[width].unpack_from(data, at)
    if length > end - at - width:
        raise DecodeError(
            f"malformed payload: byte {at - 1} declares {length} bytes but only {end - at - width} follow; "
            f"refused before allocating anything"
        )
    return int(length)


# ---- the full reading --------------------------------------------------------------------------------------------


class _Node:
    """What the reader knows of one value on the unpickler's stack: its kind and depth, and for a list, dict or set
    whether it is still the one its EMPTY_* opcode made (only those may be filled)."""

    __slots__ = ("depth", "flood", "fresh", "hash", "items", "kind", "numeric", "origin", "size", "suspect", "text")

    def __init__(self, kind: int, depth: int, fresh: bool = False) -> None:
        self.kind, self.depth, self.fresh = kind, depth, fresh
        self.flood: Counter[int] | None = None  # a dict or set's big-int keys, by hash
        self.origin: _Node | None = None
        self.hash = 0  # a big int's
        self.text = ""  # a short string's, or the name a stand-in was looked up by
        self.items: list[_Node] = []  # a small tuple's
        self.suspect = False  # holds a number whose hash the sender can choose
        self.numeric = 0  # how many suspect keys a dict or set holds
        self.size = 1  # values a hash of it walks (a list, dict or set counts one: hashing it fails there)

    def reference(self) -> _Node:
        """The node as ``BINGET`` pushes it again: the same value, never fillable, its depth read from the original
        (a list may still grow after it was memoized)."""
        if not self.fresh:
            return self
        other = _Node(self.kind, 0)
        other.origin = self
        return other


SCALAR, STRING, BIGINT, LIST, DICT, SET, TUPLE, FROZENSET, CALLABLE, OBJECT, MARK = range(11)
_KIND_NAMES = ["scalar", "string", "big-int", "list", "dict", "set", "tuple", "frozenset", "stand-in", "object", "mark"]
_LEAF = _Node(SCALAR, 0)
_TEXT = _Node(STRING, 0)


def _depth(node: _Node) -> int:
    return node.origin.depth if node.origin is not None else node.depth


class _Reader:
    """Reads a pickle opcode by opcode as the unpickler would, tracking kinds and depths only."""

    def __init__(self, data: bytes | memoryview, limit: int, preset: int = 0) -> None:
        self.data = data
        self.limit = limit
        self.end = len(data) - 1
        self.stack: list[_Node] = []
        self.marks: list[int] = []
        # Preset strings whose text the reader does not know: never a name it would let a stand-in be looked up by.
        self.memo: list[_Node] = [_TEXT] * preset

    def fail(self, at: int, why: str) -> DecodeError:
        return DecodeError(f"refusing the payload at byte {at}: {why}")

    def read(self) -> None:
        data, end, stack, memo, marks = self.data, self.end, self.stack, self.memo, self.marks
        push = stack.append
        widths = _SCALAR_WIDTHS
        texts: dict[bytes, _Node] = {}  # a short string's node, per text: names repeat in every object
        position = 2
        # The opcodes every object's recipe is made of (fixed-width scalars, MEMOIZE, BINGET, SHORT_BINUNICODE, MARK)
        # are handled in this loop, and only here; the others by their actions.
        while position < end:
            op = data[position]
            position += 1
            width = widths[op]
            if width != 255:  # a scalar of fixed width
                if position + width > end:
                    raise self.fail(position - 1, "an opcode's argument runs past the end")
                push(_LEAF)
                position += width
            elif op == 0x94:  # MEMOIZE
                if not stack:
                    raise self.fail(position - 1, "MEMOIZE with an empty stack")
                memo.append(stack[-1])
            elif op == 0x68:  # BINGET
                if position >= end or data[position] >= len(memo):
                    raise self.fail(position - 1, "it refers to a memo entry that does not exist")
                node = memo[data[position]]
                push(node.reference() if node.fresh else node)
                position += 1
            elif op == 0x8C:  # SHORT_BINUNICODE
                length = data[position] if position < end else 0
                stop = position + 1 + length
                if stop > end:
                    raise self.fail(position - 1, "an opcode's argument runs past the end")
                if length > 16:
                    push(_TEXT)
                else:
                    raw = bytes(data[position + 1 : stop])
                    named = texts.get(raw)
                    if named is None:
                        named = texts[raw] = _Node(STRING, 0)
                        named.text = raw.decode("utf-8", "replace")  # a stand-in's name, perhaps
                    push(named)
                position = stop
            elif op == 0x28:  # MARK
                marks.append(len(stack))
            else:
                action = _ACTIONS.get(op)
                if action is None:
                    raise self.fail(
                        position - 1, f"opcode {op:#04x} ({_OPNAMES.get(op, 'unknown')}) is not one workerlib sends"
                    )
                position = action(self, position - 1, position)
        if len(stack) != 1 or self.marks:
            raise self.fail(end, "the payload does not leave exactly one value")
        if _depth(stack[0]) > self.limit:
            raise self.fail(end, f"values nest deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
        self.plainItems(stack, end)

    # Helpers the actions share.
    def pop(self, at: int) -> _Node:
        if not self.stack or (self.marks and self.marks[-1] == len(self.stack)):
            raise self.fail(at, "an opcode takes a value the stack does not hold")
        return self.stack.pop()

    def popMark(self, at: int) -> list[_Node]:
        if not self.marks:
            raise self.fail(at, "an opcode needs a MARK there is none of")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def bytesAt(self, position: int, count: int) -> bytes | memoryview:
        if position + count > self.end:
            raise self.fail(position - 1, "an opcode's argument runs past the end")
        return self.data[position : position + count]

    def sized(self, position: int, width: int) -> int:
        return _declared(self.data, position, width, self.end)

    def container(self, kind: int, items: list[_Node], at: int) -> _Node:
        depth, size, suspect = 0, 1, False
        for item in items:  # one plain loop: this runs for every tuple and every object
            if item.kind == CALLABLE:
                raise self.fail(at, "a stand-in is used as a value instead of being called")
            itemDepth = item.origin.depth if item.origin is not None else item.depth
            if itemDepth > depth:
                depth = itemDepth
            size += item.size
            suspect = suspect or item.suspect
        depth += 1
        # One level of slack: a stand-in's own tuple of arguments holds a value as deep as the limit. Anything that
        # holds such a tuple is deeper still and refused, and so is one left as the payload's value.
        if depth > self.limit + 1:
            raise self.fail(at, f"values nest deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
        node = _Node(kind, depth)
        node.suspect = suspect
        node.size = min(size, HASHED_SIZE_LIMIT + 1)
        return node

    def plainItems(self, items: list[_Node], at: int) -> None:
        """Refuse a stand-in used as a value: it may only be called (the decoder's own methods must not leak)."""
        for item in items:
            if item.kind == CALLABLE:
                raise self.fail(at, "a stand-in is used as a value instead of being called")

    def fill(self, target: _Node, kind: int, items: list[_Node], keys: list[_Node], at: int) -> None:
        if target.kind != kind or not target.fresh:
            raise self.fail(
                at, f"it adds items to a {_KIND_NAMES[target.kind]} that is not the {_KIND_NAMES[kind]} made for them"
            )
        depth, suspect = 0, False
        for item in items:  # one plain loop: a list of a million scalars comes through here
            if item is _LEAF or item is _TEXT:
                continue
            if item.kind == CALLABLE:
                raise self.fail(at, "a stand-in is used as a value instead of being called")
            itemDepth = item.origin.depth if item.origin is not None else item.depth
            if itemDepth > depth:
                depth = itemDepth
            suspect = suspect or item.suspect
        if depth + 1 > self.limit:
            raise self.fail(at, f"values nest deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
        if depth + 1 > target.depth:
            target.depth = depth + 1
        target.suspect = target.suspect or suspect
        for key in keys:
            if key is _LEAF or key is _TEXT:
                continue
            if key.size > HASHED_SIZE_LIMIT:
                raise self.fail(at, f"a key holds more than HASHED_SIZE_LIMIT ({HASHED_SIZE_LIMIT}) values")
            if key.kind == BIGINT:
                flood = target.flood = target.flood or Counter()
                flood[key.hash] += 1
                if flood[key.hash] > HASH_FLOOD_LIMIT:
                    raise self.fail(at, f"more than {HASH_FLOOD_LIMIT} keys of one dict or set share a hash")
            elif key.suspect:
                target.numeric += 1
                if target.numeric > NUMERIC_KEY_LIMIT:
                    raise self.fail(
                        at,
                        f"more than {NUMERIC_KEY_LIMIT} keys of one dict or set hold numbers whose hashes a sender "
                        f"can choose (big ints, Decimal, Fraction, UUID inside tuples or objects)",
                    )


def _action(*ops: int) -> Callable[[Callable[[_Reader, int, int], int]], Callable[[_Reader, int, int], int]]:
    def register(function: Callable[[_Reader, int, int], int]) -> Callable[[_Reader, int, int], int]:
        for op in ops:
            _ACTIONS[op] = function
        return function

    return register


_ACTIONS: dict[int, Callable[[_Reader, int, int], int]] = {}
_SCALAR_WIDTHS = bytes(
    {ord("K"): 1, ord("M"): 2, ord("J"): 4, ord("G"): 8, ord("N"): 0, 0x88: 0, 0x89: 0, ord(")"): 0}.get(op, 255)
    for op in range(256)
)


@_action(0x8A, 0x8B)  # LONG1, LONG4
def _long(reader: _Reader, at: int, position: int) -> int:
    width = 1 if reader.data[at] == 0x8A else 4
    length = reader.data[position] if width == 1 else reader.sized(position, 4)
    raw = reader.bytesAt(position + width, length)
    value = int.from_bytes(raw, "little", signed=True)
    # Ints below the hash modulus hash to themselves; only bigger ones can be crafted to collide.
    if abs(value) < 2**61 - 1:
        reader.stack.append(_LEAF)
    else:
        node = _Node(BIGINT, 0)
        node.hash = hash(value)
        node.suspect = True
        reader.stack.append(node)
    return position + width + length


@_action(ord("C"))  # SHORT_BINBYTES
def _shortBytes(reader: _Reader, at: int, position: int) -> int:
    length = reader.bytesAt(position, 1)[0]
    reader.bytesAt(position + 1, length)
    reader.stack.append(_LEAF)
    return position + 1 + length


@_action(*_SIZED)
def _sizedText(reader: _Reader, at: int, position: int) -> int:
    width = _SIZED[reader.data[at]]
    length = reader.sized(position, width)
    reader.stack.append(_TEXT if reader.data[at] in (ord("X"), 0x8D) else _LEAF)
    return position + width + length


@_action(ord("]"), ord("}"), 0x8F)
def _empty(reader: _Reader, at: int, position: int) -> int:
    kind = {ord("]"): LIST, ord("}"): DICT, 0x8F: SET}[reader.data[at]]
    reader.stack.append(_Node(kind, 1, fresh=True))
    return position


@_action(ord("a"))
def _append(reader: _Reader, at: int, position: int) -> int:
    item = reader.pop(at)
    if not reader.stack:
        raise reader.fail(at, "APPEND with no list to append to")
    reader.fill(reader.stack[-1], LIST, [item], [], at)
    return position


@_action(ord("e"))
def _appends(reader: _Reader, at: int, position: int) -> int:
    items = reader.popMark(at)
    if not reader.stack:
        raise reader.fail(at, "APPENDS with nothing to append to")
    reader.fill(reader.stack[-1], LIST, items, [], at)
    return position


@_action(ord("s"))
def _setitem(reader: _Reader, at: int, position: int) -> int:
    value = reader.pop(at)
    key = reader.pop(at)
    if not reader.stack:
        raise reader.fail(at, "SETITEM with no dict to set it in")
    reader.fill(reader.stack[-1], DICT, [key, value], [key], at)
    return position


@_action(ord("u"))
def _setitems(reader: _Reader, at: int, position: int) -> int:
    items = reader.popMark(at)
    if len(items) % 2 or not reader.stack:
        raise reader.fail(at, "SETITEMS needs a dict and key, value pairs")
    reader.fill(reader.stack[-1], DICT, items, items[0::2], at)
    return position


@_action(0x90)  # ADDITEMS
def _additems(reader: _Reader, at: int, position: int) -> int:
    items = reader.popMark(at)
    if not reader.stack:
        raise reader.fail(at, "ADDITEMS with no set to add to")
    reader.fill(reader.stack[-1], SET, items, items, at)
    return position


@_action(0x85, 0x86, 0x87)  # TUPLE1..3
def _smallTuple(reader: _Reader, at: int, position: int) -> int:
    count = reader.data[at] - 0x84
    items = [reader.pop(at) for _ in range(count)]
    items.reverse()
    node = reader.container(TUPLE, items, at)
    node.items = items
    reader.stack.append(node)
    return position


@_action(ord("t"), 0x91)  # TUPLE, FROZENSET
def _markedTuple(reader: _Reader, at: int, position: int) -> int:
    items = reader.popMark(at)
    kind = TUPLE if reader.data[at] == ord("t") else FROZENSET
    if kind == FROZENSET:
        if any(item.size > HASHED_SIZE_LIMIT for item in items):
            raise reader.fail(at, f"a frozenset item holds more than HASHED_SIZE_LIMIT ({HASHED_SIZE_LIMIT}) values")
        keys = [item for item in items if item.kind == BIGINT]
        if len(keys) > HASH_FLOOD_LIMIT and max(Counter(key.hash for key in keys).values()) > HASH_FLOOD_LIMIT:
            raise reader.fail(at, f"more than {HASH_FLOOD_LIMIT} items of one frozenset share a hash")
        if sum(item.suspect and item.kind != BIGINT for item in items) > NUMERIC_KEY_LIMIT:
            raise reader.fail(at, f"more than {NUMERIC_KEY_LIMIT} items of one frozenset hold numbers of chosen hash")
    node = reader.container(kind, items, at)
    if len(items) <= 8:
        node.items = items  # a stand-in's arguments: (module, qualname, args, state)
    reader.stack.append(node)
    return position


@_action(ord("j"))  # LONG_BINGET
def _longGet(reader: _Reader, at: int, position: int) -> int:
    (index,) = struct.unpack("<I", reader.bytesAt(position, 4))
    if index >= len(reader.memo):
        raise reader.fail(at, f"it refers to memo entry {index}, and only {len(reader.memo)} exist")
    reader.stack.append(reader.memo[index].reference())
    return position + 4


@_action(ord("0"))  # POP
def _pop(reader: _Reader, at: int, position: int) -> int:
    if reader.marks and reader.marks[-1] == len(reader.stack):
        reader.marks.pop()  # the unpickler's POP removes a mark when one is on top
    else:
        reader.pop(at)
    return position


@_action(ord("1"))  # POP_MARK
def _popMark(reader: _Reader, at: int, position: int) -> int:
    reader.popMark(at)
    return position


@_action(0x95)  # FRAME
def _frame(reader: _Reader, at: int, position: int) -> int:
    _declared(reader.data, position, 8, reader.end + 1)  # a frame holds the final STOP too
    return position + 8


@_action(0x93)  # STACK_GLOBAL
def _stackGlobal(reader: _Reader, at: int, position: int) -> int:
    name, module = reader.pop(at), reader.pop(at)
    if name.kind != STRING or module.kind != STRING:
        raise reader.fail(at, "STACK_GLOBAL needs two strings")
    node = _Node(CALLABLE, 0)
    node.text = name.text
    reader.stack.append(node)
    return position


@_action(ord("R"))  # REDUCE
def _reduce(reader: _Reader, at: int, position: int) -> int:
    args = reader.pop(at)
    function = reader.pop(at)
    if function.kind != CALLABLE or args.kind not in (TUPLE, SCALAR):
        raise reader.fail(at, "REDUCE only calls a named stand-in with a tuple")
    if function.text == "_fill":
        # (object, state): the state given to an object made just before it, which may refer back to it
        if len(args.items) != 2 or args.items[0].kind != OBJECT:
            raise reader.fail(at, "a state can only be given to an object the payload made")
        target = args.items[0]
        target.depth = max(target.depth, _depth(args.items[1]))  # the state dict's level is the object's own
        target.size = min(target.size + args.items[1].size, HASHED_SIZE_LIMIT + 1)
        if target.depth > reader.limit:
            raise reader.fail(at, f"values nest deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
        reader.stack.append(_LEAF)
        return position
    if function.text == "_member" and len(args.items) == 3 and args.items[2].size > HASHED_SIZE_LIMIT:
        raise reader.fail(at, f"an Enum value holds more than HASHED_SIZE_LIMIT ({HASHED_SIZE_LIMIT}) values")
    depth = max(_depth(args) - 1, 1)  # a stand-in's own tuple of arguments is not a level of the value
    node = _Node(OBJECT, depth)
    node.size = args.size
    # Hashes of these follow their numeric value, which the sender chooses; a Decimal arrives as a string.
    node.suspect = args.suspect or (len(args.items) > 1 and args.items[1].text in _NUMERIC_CLASSES)
    reader.stack.append(node)
    return position


_NUMERIC_CLASSES = frozenset({"Decimal", "Fraction", "UUID"})


_OPNAMES = {
    ord("b"): "BUILD",
    ord("c"): "GLOBAL",
    ord("i"): "INST",
    ord("o"): "OBJ",
    0x81: "NEWOBJ",
    0x92: "NEWOBJ_EX",
    ord("p"): "PUT",
    ord("q"): "BINPUT",
    ord("r"): "LONG_BINPUT",
    ord("g"): "GET",
    ord("P"): "PERSID",
    ord("Q"): "BINPERSID",
    0x82: "EXT1",
    0x83: "EXT2",
    0x84: "EXT4",
    ord("2"): "DUP",
    0x97: "NEXT_BUFFER",
    0x98: "READONLY_BUFFER",
    0x80: "PROTO",
    ord("."): "STOP",
    ord("I"): "INT",
    ord("L"): "LONG",
    ord("F"): "FLOAT",
    ord("S"): "STRING",
    ord("T"): "BINSTRING",
    ord("U"): "SHORT_BINSTRING",
    ord("V"): "UNICODE",
    ord("d"): "DICT",
    ord("l"): "LIST",
}
