"""The screen every payload passes before CPython's unpickler reads it: a recognizer of what the encoder writes.

The C unpickler is fast but trusts its input. So a payload is read first, in one linear pass that builds nothing,
and refused (:class:`~workerlib.DecodeError`) unless it is in the form workerlib's own encoder (CPython's C pickler,
protocol 5, with :mod:`workerlib.codec`'s reducer) produces. That form, as a grammar::

    payload   := PROTO 5 value STOP                       FRAMEs may start at opcode boundaries, one at a time
    value     := scalar | text MEMOIZE | GET | tuple | list | dict | set | frozenset | call
    scalar    := NONE | NEWTRUE | NEWFALSE | BININT1 | BININT2 | BININT | LONG1 | LONG4 | BINFLOAT | EMPTY_TUPLE
    text      := SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 | SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8
    GET       := BINGET | LONG_BINGET                     an entry memoized before
    tuple     := value{1,3} TUPLE1..3 MEMOIZE | MARK value+ TUPLE MEMOIZE
               | value{n} POP{n} GET | MARK value+ POP_MARK GET      a tuple its own items reached (a cycle)
    list      := EMPTY_LIST MEMOIZE [value APPEND | (MARK value+ APPENDS)+]
    dict      := EMPTY_DICT MEMOIZE [value value SETITEM | (MARK (value value)+ SETITEMS)+]
    set       := EMPTY_SET MEMOIZE (MARK value+ ADDITEMS)*
    frozenset := MARK value* FROZENSET MEMOIZE | MARK value+ POP_MARK GET
    call      := function tuple REDUCE MEMOIZE [fill] | function tuple REDUCE MEMOIZE
    function  := text text STACK_GLOBAL MEMOIZE | GET   "workerlib.codec" and the name of one of STAND_INS
    fill      := function GET value TUPLE2 REDUCE POP    _fill(the object just made, its state dict)

Nothing else is accepted: no other opcode (``BUILD``, ``GLOBAL``, ``INST``, ``OBJ``, ``NEWOBJ``, ``PUT``, extension
codes, persistent ids, out-of-band buffers), no ``MEMOIZE`` but right after what the encoder memoizes, no ``POP``
outside the two places above, no global but a stand-in named by the literal strings above (never by a preset key),
each stand-in called with arguments of the kinds its position takes (:data:`_SHAPES`), and no container filled but
the one just made, while it is being made: a list, dict or set is filled only straight after its ``EMPTY_*``
opcode, in batches, and is complete from the moment it is taken as an item. A part sent as a tree (fast mode)
memoizes nothing and calls no stand-in.

What that shape gives, and what the recognizer checks as it goes:

* depth: a value is complete when it is used, so the depth of every value is known when it is made; a reference to
  a container still being filled (a cycle) counts as the encoder counts it, and such a value is measured again
  after loading (as are values built elsewhere: segments, adapted data, lists sent in parts);
* hashing: a key (of a dict, set or frozenset, or an Enum value looked up) never holds a value still being made;
  keys made of numbers, strings, bytes and tuples of them are hashed here too, and no more than
  :data:`HASH_FLOOD_LIMIT` of one dict or set may share a hash; keys of unknown value (objects) are charged to the
  budget for every comparison they could cost;
* one budget (:class:`Budget`) per payload, proportional to its length: every opcode, every hashed walk and the
  work the decoder's stand-ins do after the screen (a ``Decimal``'s digits, a ``Fraction``'s gcd, a buffer's copy)
  is charged to it; past it, the payload is refused.

Reading a payload opcode by opcode in Python costs about as much as unpickling it ten times over, so the values
sent most (built-in scalars, strings, bytes, lists, dicts, sets and tuples of scalars) are screened by one regular
expression: a payload made only of those opcodes cannot run code or build anything but built-in values, its tuples
cannot nest (a handful of tuple opcodes at most), and its value is measured after unpickling. Anything else gets
the full reading.
"""

from __future__ import annotations

import bisect
import pickletools
import re
import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import kinds
from .errors import DecodeError
from .nesting import NESTING_LIMIT

HASH_FLOOD_LIMIT = 64
"""How many keys of one dict or set may share a hash; a payload with more is refused as hash flooding."""

HASHED_SIZE_LIMIT = 1_000_000
"""How many values a key (or an Enum value looked up) may hold, counting a value shared by several places once per
place: hashing and comparing walk it that way, so a few bytes of tuples made of memoized tuples would take 2**40
steps."""

BUDGET_PER_BYTE = 64
"""Units of work (an opcode read, a value hashed, a digit parsed) decoding may spend per byte of payload."""

BUDGET_BASE = 1 << 16
"""Units of work every payload may spend, however short."""

STAND_INS = (
    "_segment",
    "_construct",
    "_member",
    "_fill",
    "_inline",
    "_attached",
    "_outOfBand",
    "_callback",
    "_joined",
)
"""The names of :mod:`workerlib.codec`'s stand-ins: the only globals a payload may name (module ``workerlib.codec``)."""

EVERY_STAND_IN = frozenset(STAND_INS)


class Budget:
    """What decoding one payload may still spend: :data:`BUDGET_BASE` plus :data:`BUDGET_PER_BYTE` per byte of the
    payload and of the buffers that came with it. The screen and the decoder's stand-ins charge it."""

    __slots__ = ("left", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = BUDGET_BASE + BUDGET_PER_BYTE * size

    def charge(self, units: int, what: str) -> None:
        """Spend ``units`` on ``what``; :class:`~workerlib.DecodeError` when the budget is gone."""
        self.left -= units
        if self.left < 0:
            raise DecodeError(
                f"refusing a payload of {self.size} bytes: {what} costs more work than its size allows "
                f"(BUDGET_PER_BYTE {BUDGET_PER_BYTE})"
            )

    def exhausted(self, at: int) -> DecodeError:
        return DecodeError(
            f"refusing the payload at byte {at}: decoding it costs more work than its {self.size} bytes allow "
            f"(BUDGET_PER_BYTE {BUDGET_PER_BYTE})"
        )


QUICK, EXACT, MEASURE = range(3)
"""What :func:`screen` found: a payload of the quick grammar (built-in values only: measure its value after loading),
one whose depth the full reading found exact and within the limit, or one whose value must be measured after
loading (it has a cycle, or values built elsewhere)."""

_TUPLE_BUDGET = 8  # tuple opcodes the quick grammar allows besides tuples of scalars: an envelope or two


# ---- the quick grammar -------------------------------------------------------------------------------------------


def _counted(op: bytes, longest: int) -> bytes:
    """An opcode followed by a one-byte length and that many bytes, for every length up to ``longest``."""
    branches = b"|".join(re.escape(bytes([n])) + b".{%d}" % n for n in range(longest + 1))
    return re.escape(op) + b"(?:" + branches + b")"


def _quickGrammar(simple: bytes) -> re.Pattern[bytes]:
    # MARK, APPEND(S), SETITEM(S), ADDITEMS, MEMOIZE, None, True, False, (), EMPTY_LIST/DICT/SET: one byte each,
    # matched as runs of a character class (one step of sre each), between the opcodes with arguments.
    return re.compile(
        b"(?:"
        + simple
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
            ]
        )
        + b"))*+"
        + simple,
        re.DOTALL,
    )


_RUN = _quickGrammar(b"[(aesu\\x90\\x94N\\x88\\x89)\\]}\\x8f]*")
_TREE_RUN = _quickGrammar(b"[(aesu\\x90N\\x88\\x89)\\]}\\x8f]*")  # a tree part memoizes nothing
_TUPLES = frozenset(b"\x85\x86\x87t")
_SIZED = {  # opcode -> width of its length: allocated before they are read, so checked here
    ord("X"): 4,  # BINUNICODE
    0x8D: 8,  # BINUNICODE8
    ord("B"): 4,  # BINBYTES
    0x8E: 8,  # BINBYTES8
    0x96: 8,  # BYTEARRAY8
}
_LENGTH = {4: struct.Struct("<I"), 8: struct.Struct("<Q")}


def screen(
    data: bytes | memoryview,
    limit: int = NESTING_LIMIT,
    *,
    keys: int = -1,
    standIns: frozenset[str] = EVERY_STAND_IN,
    budget: Budget | None = None,
    joinedDepth: int = -1,
) -> int:
    """Refuse ``data`` unless it is a payload workerlib's encoder could have made (see the module); else say how
    its depth is known (:data:`QUICK`, :data:`EXACT` or :data:`MEASURE`).

    ``keys``: for a part sent as a tree, how many strings the unpickler's memo holds before the payload is read (see
    :func:`workerlib.codec.decodePart`); such a payload memoizes nothing and calls no stand-in. ``standIns``: the
    stand-ins this payload may call (those whose values came with it). ``budget``: what decoding may spend, shared
    with the decoder (a new one for ``data``'s length by default). ``joinedDepth``: how deep the list sent ahead in
    parts nests, when its parts were measured (else the value is measured after loading).
    """
    if isinstance(data, memoryview):
        data = data.tobytes() if len(data) < 4096 else data
    if isQuick(data, keys):
        return QUICK
    reader = _Recognizer(data, limit, keys, frozenset() if keys >= 0 else standIns, budget or Budget(len(data)))
    reader.joinedDepth = joinedDepth
    return EXACT if reader.read() else MEASURE


def isQuick(data: bytes | memoryview, keys: int = -1) -> bool:
    """Whether ``data`` is in the quick grammar (see the module): built-in values only, which :func:`screen` needs
    to read no further. Raises :class:`~workerlib.DecodeError` for what no reading accepts."""
    size = len(data)
    if size < 3 or data[0] != 0x80 or data[1] != 5 or data[size - 1] != 0x2E:
        raise DecodeError(f"malformed payload ({size} bytes): not a protocol 5 pickle ending in STOP")
    end = size - 1
    position, tuples = 2, 0
    run = (_TREE_RUN if keys >= 0 else _RUN).match
    # Frames: the unpickler reads a frame ahead, and a read running past its end is served from the bytes after it
    # (what was left of the frame is dropped), so an opcode straddling a frame's end is not read where the screen
    # reads it. The encoder ends frames between opcodes: the quick grammar runs to a frame's end, not past it.
    frameEnd = 0
    while True:
        stop = frameEnd if position < frameEnd < end else end
        position = run(data, position, stop).end()  # type: ignore[union-attr]
        if position == end:
            return True
        region = stop if position < stop else end
        op = data[position]
        if op == 0x95 and position >= frameEnd:  # FRAME, outside any frame
            length = _declared(data, position + 1, 8, end + 1)  # a frame may hold the final STOP
            position += 9
            frameEnd = position + length
        elif op in _TUPLES and tuples < _TUPLE_BUDGET:
            tuples += 1
            position += 1
        elif op in _SIZED:
            width = _SIZED[op]
            length = _declared(data, position + 1, width, region)
            position += 1 + width + length
        else:
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


# ---- the full reading: a recognizer of the encoder's grammar --------------------------------------------------------
#
# Every value on the simulated stack is a _Node. Nodes are what the recognizer knows of a value: its kind, its depth
# (exact unless it holds a reference to a container that was still being filled), how many values hashing it walks,
# and for a container or object whether it is still being filled (its phase). Fetching a memo entry pushes the
# entry's own node, or, when that node is still being filled, a _Node that refers to it ("loose"): a cycle, or a
# reference the grammar cannot place yet. A value holding a loose node is never hashed and is measured after loading.

SCALAR, STRING, BYTES, BYTEARRAY, LIST, DICT, SET, TUPLE, FROZENSET, FUNCTION, OBJECT, FILLED = range(12)
_KIND_NAMES = (
    "scalar",
    "string",
    "bytes",
    "bytearray",
    "list",
    "dict",
    "set",
    "tuple",
    "frozenset",
    "stand-in",
    "object",
    "fill result",
)
_MEMOIZED_KINDS = frozenset({STRING, BYTES, BYTEARRAY, LIST, DICT, SET, TUPLE, FROZENSET, FUNCTION, OBJECT})
FRESH, BATCHING, SEALED = 1, 2, 3  # a list, dict, set or object: just made, being filled in batches, complete
_UNKNOWN: Any = object()  # a node's value when the recognizer does not know it


class _Node:
    __slots__ = (
        "aimed",
        "depth",
        "hashes",
        "items",
        "kind",
        "loose",
        "memoized",
        "phase",
        "reference",
        "size",
        "slot",
        "span",
        "stand",
        "steered",
        "target",
        "value",
    )

    def __init__(self, kind: int, depth: int = 0, value: Any = _UNKNOWN) -> None:
        self.kind = kind
        self.depth = depth
        self.value = value  # a scalar's, or a key's once worked out
        self.aimed = True  # whether a sender may choose its hash (see kinds.Kind.aimedHash), when its value is unknown
        self.size = 1  # values a hash of it walks, counting a shared one once per place
        self.loose = False  # holds a loose reference: depth not exact, never hashed
        self.memoized = False
        self.phase = 0
        self.items: list[_Node] | None = None  # a tuple's or frozenset's
        self.span: tuple[int, int] | None = None  # where a string's or bytes' data lies in the payload
        self.slot = 0  # a container's or object's place on the stack, while it is being made
        self.stand = -1  # which stand-in a function is, or made an object
        self.target: _Node | None = None  # what a loose reference refers to
        self.reference: _Node | None = None  # a container's loose reference: made once, however often it is fetched
        self.hashes: Counter[int] | None = None  # a dict's or set's keys of known value, by hash
        self.steered = 0  # a dict's or set's keys of unknown value whose hash a sender may choose


def _fixed(kind: int, value: Any) -> _Node:
    node = _Node(kind, 0, value)
    return node


_NONE, _TRUE, _FALSE = _fixed(SCALAR, None), _fixed(SCALAR, True), _fixed(SCALAR, False)
_SMALL_INTS = [_fixed(SCALAR, n) for n in range(256)]
_EMPTY_TUPLE = _Node(TUPLE, 1, ())
_EMPTY_TUPLE.items = []
_INT2 = struct.Struct("<H")
_INT4 = struct.Struct("<i")
_FLOAT = struct.Struct(">d")
_LONG_INDEX = struct.Struct("<I")
_MODULE = b"workerlib.codec"
_BY_NAME = {(module.encode(), qualname.encode()): kind for (module, qualname), kind in kinds.BY_NAME.items()}
_STAND_IN_INDEX = {name.encode(): index for index, name in enumerate(STAND_INS)}
_SEGMENT, _CONSTRUCT, _MEMBER, _FILL, _INLINE, _ATTACHED, _OUT_OF_BAND, _CALLBACK, _JOINED = range(len(STAND_INS))
_EXTERNAL = frozenset({_SEGMENT, _JOINED})  # their results are built elsewhere: measured after loading
_KNOWN_TEXT = 32  # strings up to this long keep their bytes: a stand-in's module and name are among them
_NO_MARK = -1


class _Recognizer:
    """Reads a pickle opcode by opcode, accepting only what workerlib's encoder writes (see the module)."""

    def __init__(
        self, data: bytes | memoryview, limit: int, keys: int, standIns: frozenset[str], budget: Budget
    ) -> None:
        self.data = data
        self.limit = limit
        self.end = len(data) - 1
        self.stack: list[_Node] = []
        self.marks: list[int] = []
        self.tree = keys >= 0  # a part sent as a tree: nothing memoized, no stand-ins
        # A tree part's preset keys: strings, and nothing a stand-in could be named by.
        self.memo: list[_Node] = [_Node(STRING) for _ in range(max(keys, 0))]
        self.allowed = frozenset(_STAND_IN_INDEX[name.encode()] for name in standIns)
        self.budget = budget
        self.external = False
        self.joinedDepth = -1  # how deep the list sent in parts nests, when its parts were measured
        self.unwound: list[_Node] = []  # what POPs took off the stack, waiting for the tuple they unwind to

    def refusal(self, at: int, why: str) -> DecodeError:
        return DecodeError(f"refusing the payload at byte {at}: {why}")

    def read(self) -> bool:
        """Recognize the payload; True when its value's depth is exact and within the limit, False when the caller
        must measure it after loading (it holds a cycle, or values built elsewhere)."""
        data, end, stack, memo, marks = self.data, self.end, self.stack, self.memo, self.marks
        push = stack.append
        # The reading itself: at most one opcode per byte, each a bounded step (charged once, up front).
        self.budget.charge(end, "reading it")
        position = 2
        frameEnd = 0
        pending: _Node | None = None  # a node the encoder memoizes at once: the next opcode must be MEMOIZE
        memoizing = not self.tree
        unwinding = False  # POPs took a tuple's items: only more POPs, or the GET of that tuple, may follow
        at = 0
        while position < end:
            if at < frameEnd < position:
                raise self.refusal(
                    at, "an opcode runs past the end of its frame (the unpickler would read it elsewhere)"
                )
            op = data[position]
            at = position
            position += 1
            # pickle writes a bytes or str of 64 KiB or more outside its frames and starts a new frame after it, so a
            # FRAME may stand between such a value and its MEMOIZE (the FRAME branch below still checks the frame).
            if pending is not None and op != 0x95:
                if op == 0x94:
                    pending.memoized = True
                    memo.append(pending)
                    pending = None
                    continue
                if not (op == 0x52 and pending.kind == TUPLE and len(stack) > 1 and stack[-2].stand == _FILL):
                    raise self.refusal(at, f"a {_KIND_NAMES[pending.kind]} is not memoized as the encoder does")
                pending = None  # a fill's (object, state): written as it is, not saved as a tuple
            if unwinding and op != 0x30 and op != 0x68 and op != 0x6A and op != 0x95:
                raise self.refusal(at, "POP outside the two places the encoder writes one")
            if op == 0x4B:  # BININT1
                if position >= end:
                    raise self.refusal(at, "an opcode's argument runs past the end")
                push(_SMALL_INTS[data[position]])
                position += 1
            elif op == 0x8C or op == 0x58 or op == 0x8D or op == 0x43 or op == 0x42 or op == 0x8E or op == 0x96:
                # SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8
                width = _LENGTH_WIDTH[op]
                if width == 1:
                    if position >= end:
                        raise self.refusal(at, "an opcode's argument runs past the end")
                    length = data[position]
                    if position + 1 + length > end:
                        raise self.refusal(at, "an opcode's argument runs past the end")
                else:
                    length = _declared(data, position, width, end)
                start = position + width
                position = start + length
                node = _Node(STRING if op in _TEXTS else BYTEARRAY if op == 0x96 else BYTES)
                node.span = (start, position)
                push(node)
                if memoizing:
                    pending = node
            elif op == 0x94:  # MEMOIZE, of what the encoder does not memoize, or twice
                if self.tree:
                    raise self.refusal(at, "a part of a list sent in parts was sent as a tree, yet it memoizes values")
                raise self.refusal(at, "MEMOIZE where the encoder writes none")
            elif op == 0x68 or op == 0x6A:  # BINGET, LONG_BINGET
                if op == 0x68:
                    if position >= end:
                        raise self.refusal(at, "an opcode's argument runs past the end")
                    index = data[position]
                    position += 1
                else:
                    if position + 4 > end:
                        raise self.refusal(at, "an opcode's argument runs past the end")
                    (index,) = _LONG_INDEX.unpack_from(data, position)
                    position += 4
                if index >= len(memo):
                    raise self.refusal(at, f"it fetches memo entry {index}, and only {len(memo)} exist")
                node = memo[index]
                if unwinding:
                    node = self.unwind(node, at)
                    unwinding = False
                elif node.phase == FRESH or node.phase == BATCHING:
                    node = self.reference(node)
                elif node.stand == _FILL:
                    self.startFill()
                push(node)
            elif op == 0x28:  # MARK
                marks.append(len(stack))
            elif op == 0x4E:  # NONE
                push(_NONE)
            elif op == 0x88 or op == 0x89:  # NEWTRUE, NEWFALSE
                push(_TRUE if op == 0x88 else _FALSE)
            elif op == 0x4D or op == 0x4A or op == 0x47:  # BININT2, BININT, BINFLOAT
                width = 2 if op == 0x4D else 4 if op == 0x4A else 8
                if position + width > end:
                    raise self.refusal(at, "an opcode's argument runs past the end")
                packing = _INT2 if op == 0x4D else _INT4 if op == 0x4A else _FLOAT
                push(_Node(SCALAR, 0, packing.unpack_from(data, position)[0]))
                position += width
            elif op == 0x8A or op == 0x8B:  # LONG1, LONG4
                width = 1 if op == 0x8A else 4
                if width == 1:
                    length = data[position] if position < end else end
                else:
                    length = _declared(data, position, 4, end)
                if position + width + length > end:
                    raise self.refusal(at, "an opcode's argument runs past the end")
                self.budget.left -= length  # int.from_bytes here, and the unpickler's
                value = int.from_bytes(data[position + width : position + width + length], "little", signed=True)
                push(_Node(SCALAR, 0, value))
                position += width + length
            elif op == 0x29:  # EMPTY_TUPLE
                push(_EMPTY_TUPLE)
            elif op == 0x5D or op == 0x7D or op == 0x8F:  # EMPTY_LIST, EMPTY_DICT, EMPTY_SET
                node = _Node(LIST if op == 0x5D else DICT if op == 0x7D else SET, 1)
                node.phase = FRESH
                node.slot = len(stack)
                push(node)
                if memoizing:
                    pending = node
            elif op == 0x95:  # FRAME: where a frame starts, holding whole opcodes up to its end
                if position < frameEnd:
                    raise self.refusal(at, "a frame inside a frame")
                length = _declared(data, position, 8, end + 1)  # a frame holds the final STOP too
                position += 8
                frameEnd = position + length
            else:
                action = _ACTIONS.get(op)
                if action is None:
                    raise self.refusal(
                        at, f"opcode {op:#04x} ({_OPNAMES.get(op, 'unknown')}) is not one workerlib sends"
                    )
                made = action(self, at)
                unwinding = bool(self.unwound)
                if made is not None:
                    if made.stand == _FILL and made.kind == FUNCTION:
                        self.startFill()
                    made.slot = len(stack)
                    push(made)
                    if memoizing and made.kind in _MEMOIZED_KINDS and not made.memoized:
                        pending = made
        if at < frameEnd < position:
            raise self.refusal(at, "an opcode runs past the end of its frame (the unpickler would read it elsewhere)")
        if pending is not None:
            raise self.refusal(end, f"a {_KIND_NAMES[pending.kind]} is not memoized as the encoder does")
        if len(stack) != 1 or marks or self.unwound:
            raise self.refusal(end, "the payload does not leave exactly one value")
        root = stack[0]
        if root.kind == FUNCTION or root.kind == FILLED:
            raise self.refusal(end, "a stand-in is used as a value instead of being called")
        if root.loose or self.external:
            return False
        if root.depth > self.limit:
            raise self.refusal(end, f"values nest deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
        return True

    # ---- helpers the actions share ----

    def reference(self, node: _Node) -> _Node:
        """What fetching ``node``, still on the stack where it was made, pushes: the node itself when the grammar
        shows it complete, else a loose reference to it (depth 0: a path ends at a cycle, as the encoder counts)."""
        stack, slot = self.stack, node.slot
        if node.kind == OBJECT:
            # An object's state is given right after it is made: fetched with no fill begun, it is complete.
            complete = node.phase == FRESH
        else:
            # Only a batch of its own (a MARK just above it) or, into one just made, its one item can still add to
            # a container: a container that took a batch and has no MARK just above it is complete.
            marks = self.marks
            above = bisect.bisect_left(marks, slot + 1)
            batch = above < len(marks) and marks[above] == slot + 1
            complete = node.phase == BATCHING and not batch and slot < len(stack)
        if complete:
            node.phase = SEALED
            return node
        reference = node.reference
        if reference is None:
            reference = node.reference = _Node(node.kind)
            reference.loose = True
            reference.target = node
        return reference

    def startFill(self) -> None:
        """The fill stand-in was pushed: the object just below it is getting its state."""
        stack = self.stack
        if stack and stack[-1].kind == OBJECT and stack[-1].phase == FRESH:
            stack[-1].phase = BATCHING

    def pop(self, at: int) -> _Node:
        if not self.stack or (self.marks and self.marks[-1] == len(self.stack)):
            raise self.refusal(at, "an opcode takes a value the stack does not hold")
        return self.stack.pop()

    def popMark(self, at: int) -> list[_Node]:
        if not self.marks:
            raise self.refusal(at, "an opcode needs a MARK there is none of")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def target(self, kind: int, at: int, single: bool) -> _Node:
        """The container a fill adds to: the one just below, made by its EMPTY_* opcode and still being filled
        (a single item only into one just made)."""
        if not self.stack or (self.marks and self.marks[-1] == len(self.stack)):
            raise self.refusal(at, f"there is no {_KIND_NAMES[kind]} to add to")
        node = self.stack[-1]
        if node.kind != kind or not (node.phase == FRESH or (node.phase == BATCHING and not single)):
            raise self.refusal(
                at, f"it adds to a {_KIND_NAMES[node.kind]} that is not a {_KIND_NAMES[kind]} being made for it"
            )
        return node

    def measure(self, items: list[_Node], at: int) -> tuple[int, int, bool]:
        """The deepest of ``items``, their hashed size and whether any is loose; seals containers among them."""
        depth = size = 0
        loose = False
        for item in items:  # one plain loop: a list of a thousand items comes through here
            kind = item.kind
            if kind in (FUNCTION, FILLED):
                raise self.refusal(at, "a stand-in is used as a value instead of being called")
            if item.depth > depth:
                depth = item.depth
            size += item.size
            if item.loose:
                loose = True
            if item.phase == FRESH or item.phase == BATCHING:
                item.phase = SEALED  # taken as an item: complete
        if depth >= self.limit + 1 and not loose:
            # One level of slack: a stand-in's own tuple of arguments holds a value as deep as the limit. Anything
            # that holds such a tuple is deeper still and refused, and so is one left as the payload's value.
            raise self.refusal(at, f"values nest deeper than NESTING_LIMIT ({NESTING_LIMIT}) levels")
        return depth + 1, min(size + 1, HASHED_SIZE_LIMIT + 1), loose

    def fill(self, target: _Node, items: list[_Node], keys: list[_Node], at: int) -> None:
        depth, _, loose = self.measure(items, at)
        if depth > target.depth:
            target.depth = depth
        target.loose = target.loose or loose
        if keys:
            self.hashed(target, keys, at)

    def hashed(self, owner: _Node, keys: list[_Node], at: int) -> None:
        """Check the keys a dict or set (``owner``) is about to hash: never one holding a value still being made,
        each charged for what hashing it walks, and no more than HASH_FLOOD_LIMIT of known value sharing a hash;
        keys of unknown value whose hash a sender may choose (objects) are charged for every comparison they
        could cost if they all collided."""
        budget = self.budget
        for key in keys:
            kind = key.kind
            if kind in (STRING, BYTES):
                continue  # hashed with a secret key per process: a sender cannot aim them
            if key.loose:
                raise self.refusal(at, "a key holds a value that is still being made (a cycle through a key)")
            if kind == SCALAR:
                value = key.value
                if type(value) is not int or -(2**61) < value < 2**61:
                    continue  # such ints hash to themselves; floats, None and bools collide only a handful of times
            elif kind in (LIST, DICT, SET, BYTEARRAY):
                continue  # unhashable: the unpickler fails on it at once
            if key.size > HASHED_SIZE_LIMIT:
                raise self.refusal(at, f"a key holds more than HASHED_SIZE_LIMIT ({HASHED_SIZE_LIMIT}) values")
            budget.left -= key.size
            value = self.valueOf(key)
            if value is _UNKNOWN:
                if key.aimed:
                    owner.steered += 1
                    budget.left -= owner.steered * key.size
            else:
                try:
                    code = hash(value)
                except TypeError:
                    continue  # unhashable after all: the unpickler fails on it
                counts = owner.hashes
                if counts is None:
                    counts = owner.hashes = Counter()
                counts[code] += 1
                if counts[code] > HASH_FLOOD_LIMIT:
                    raise self.refusal(at, f"more than {HASH_FLOOD_LIMIT} keys of one dict or set share a hash")
            if budget.left < 0:
                raise budget.exhausted(at)

    def valueOf(self, node: _Node) -> Any:
        """The value a key will have, when it is made of scalars, strings, bytes, tuples and frozensets of them."""
        if node.value is not _UNKNOWN:
            return node.value
        kind = node.kind
        if kind in (STRING, BYTES) and node.span is not None:
            raw = bytes(self.data[node.span[0] : node.span[1]])
            node.value = raw.decode("utf-8", "surrogatepass") if kind == STRING else raw
        elif kind in (TUPLE, FROZENSET) and node.items is not None:
            values = []
            for item in node.items:
                value = self.valueOf(item)
                if value is _UNKNOWN:
                    return _UNKNOWN
                values.append(value)
            try:
                node.value = tuple(values) if kind == TUPLE else frozenset(values)
            except TypeError:
                return _UNKNOWN
        return node.value

    def unwind(self, node: _Node, at: int) -> _Node:
        """The GET that ends a tuple reached again through its own items: the POPs took exactly its items."""
        taken, self.unwound = self.unwound, []
        taken.reverse()
        items = node.items
        if node.kind not in (TUPLE, FROZENSET) or items is None or len(items) != len(taken):
            raise self.refusal(at, "POP outside the two places the encoder writes one")
        for item, popped in zip(items, taken, strict=True):
            if (item.target or item) is not popped and item is not popped:
                raise self.refusal(at, "POP outside the two places the encoder writes one")
            if popped.phase == FRESH or popped.phase == BATCHING:
                popped.phase = SEALED
        return node


def _action(*ops: int) -> Callable[[Callable[[_Recognizer, int], _Node | None]], Any]:
    def register(function: Callable[[_Recognizer, int], _Node | None]) -> Callable[[_Recognizer, int], _Node | None]:
        for op in ops:
            _ACTIONS[op] = function
        return function

    return register


_ACTIONS: dict[int, Callable[[_Recognizer, int], _Node | None]] = {}
_TEXTS = frozenset({0x8C, 0x58, 0x8D})
_LENGTH_WIDTH = {0x8C: 1, 0x43: 1, 0x58: 4, 0x42: 4, 0x8D: 8, 0x8E: 8, 0x96: 8}


@_action(ord("a"))  # APPEND: the one item of a list
def _append(reader: _Recognizer, at: int) -> None:
    item = reader.pop(at)
    target = reader.target(LIST, at, single=True)
    reader.fill(target, [item], [], at)
    target.phase = SEALED


@_action(ord("e"))  # APPENDS: a batch of a list's items
def _appends(reader: _Recognizer, at: int) -> None:
    items = reader.popMark(at)
    target = reader.target(LIST, at, single=False)
    reader.fill(target, items, [], at)
    target.phase = BATCHING


@_action(ord("s"))  # SETITEM: the one item of a dict
def _setitem(reader: _Recognizer, at: int) -> None:
    value = reader.pop(at)
    key = reader.pop(at)
    target = reader.target(DICT, at, single=True)
    reader.fill(target, [key, value], [key], at)
    target.phase = SEALED


@_action(ord("u"))  # SETITEMS: a batch of a dict's items
def _setitems(reader: _Recognizer, at: int) -> None:
    items = reader.popMark(at)
    target = reader.target(DICT, at, single=False)
    if len(items) % 2:  # (none after a full batch: the pickler's loop ends so)
        raise reader.refusal(at, "SETITEMS needs key, value pairs")
    reader.fill(target, items, items[0::2], at)
    target.phase = BATCHING


@_action(0x90)  # ADDITEMS: a batch of a set's items
def _additems(reader: _Recognizer, at: int) -> None:
    items = reader.popMark(at)
    target = reader.target(SET, at, single=False)  # (empty after a full batch: the pickler's loop ends so)
    reader.fill(target, items, items, at)
    target.phase = BATCHING


@_action(0x85, 0x86, 0x87)  # TUPLE1..3
def _smallTuple(reader: _Recognizer, at: int) -> _Node:
    count = reader.data[at] - 0x84
    if len(reader.stack) < count or (reader.marks and reader.marks[-1] > len(reader.stack) - count):
        raise reader.refusal(at, "an opcode takes a value the stack does not hold")
    items = reader.stack[-count:]
    del reader.stack[-count:]
    return _tuple(reader, TUPLE, items, at)


@_action(ord("t"), 0x91)  # TUPLE, FROZENSET
def _markedTuple(reader: _Recognizer, at: int) -> _Node:
    items = reader.popMark(at)
    kind = TUPLE if reader.data[at] == ord("t") else FROZENSET
    if kind == TUPLE and not items:
        raise reader.refusal(at, "an empty tuple is written as EMPTY_TUPLE")
    return _tuple(reader, kind, items, at)


def _tuple(reader: _Recognizer, kind: int, items: list[_Node], at: int) -> _Node:
    node = _Node(kind)
    node.depth, node.size, node.loose = reader.measure(items, at)
    node.items = items
    if kind == FROZENSET:
        reader.hashed(node, items, at)
    return node


@_action(ord("0"))  # POP: after a fill's call, or unwinding a tuple its own items reached
def _pop(reader: _Recognizer, at: int) -> None:
    node = reader.pop(at)
    if node.kind == FILLED:
        return
    reader.unwound.append(node)


@_action(ord("1"))  # POP_MARK: unwinding a tuple or frozenset its own items reached
def _popMark(reader: _Recognizer, at: int) -> None:
    if reader.unwound:
        raise reader.refusal(at, "POP outside the two places the encoder writes one")
    items = reader.popMark(at)
    if not items:
        raise reader.refusal(at, "POP_MARK of nothing")
    reader.unwound = items


@_action(0x93)  # STACK_GLOBAL: one of the decoder's stand-ins, named in full
def _stackGlobal(reader: _Recognizer, at: int) -> _Node:
    name, module = reader.pop(at), reader.pop(at)
    moduleText, nameText = _text(reader, module), _text(reader, name)
    index = _STAND_IN_INDEX.get(nameText, -1) if moduleText == _MODULE else -1
    if index < 0:
        raise reader.refusal(at, "a global other than one of workerlib's stand-ins")
    if index not in reader.allowed:
        raise reader.refusal(at, _UNUSABLE.get(index, f"stand-in {STAND_INS[index]} where this payload cannot use it"))
    node = _Node(FUNCTION)
    node.stand = index
    return node


_UNUSABLE = {
    _SEGMENT: "it refers to an adapted value's segment, and it has no segments",
    _ATTACHED: "it refers to an attached value, and none came with it",
    _OUT_OF_BAND: "it refers to a buffer, and none came with it",
    _CALLBACK: "refusing a callback in a payload that cannot carry one (only a call's arguments can)",
    _JOINED: "it refers to a list sent in parts, and no parts came before it",
}
"""Why a stand-in that refers to something beside the payload is refused when that did not come with it."""


def _text(reader: _Recognizer, node: _Node) -> bytes:
    if node.kind != STRING or node.span is None or node.span[1] - node.span[0] > _KNOWN_TEXT:
        return b""
    return bytes(reader.data[node.span[0] : node.span[1]])


@_action(ord("R"))  # REDUCE: a stand-in called with arguments of the shape the encoder gives it
def _reduce(reader: _Recognizer, at: int) -> _Node:
    args = reader.pop(at)
    function = reader.pop(at)
    if function.kind != FUNCTION or args.kind != TUPLE or args.items is None:
        raise reader.refusal(at, "REDUCE only calls a stand-in with a tuple")
    items = args.items
    stand = function.stand
    kinds = _SHAPES[stand].get(len(items))
    if kinds is None:
        raise reader.refusal(at, f"stand-in {STAND_INS[stand]} called with {len(items)} arguments")
    for item, allowed in zip(items, kinds, strict=True):
        if allowed is not None and item.kind not in allowed:
            raise reader.refusal(
                at, f"stand-in {STAND_INS[stand]} called with a {_KIND_NAMES[item.kind]} where it never is"
            )
    if stand == _FILL:
        # (the object made just before, its state): the object is still below, waiting for exactly this.
        made, state = items
        below = reader.stack and not (reader.marks and reader.marks[-1] == len(reader.stack))
        obj = reader.stack[-1] if below else None
        if obj is None or obj.kind != OBJECT or obj.phase != BATCHING or made.target is not obj:
            raise reader.refusal(at, "a state can only be given to the object made just before it")
        if reader.data[at + 1] != 0x30:
            raise reader.refusal(at, "a fill is not followed by the POP the encoder writes")
        obj.phase = SEALED
        if state.depth > obj.depth:
            obj.depth = state.depth  # the state dict's level is the object's own
        obj.size = min(obj.size + state.size, HASHED_SIZE_LIMIT + 1)
        obj.loose = obj.loose or state.loose
        if state.phase == FRESH or state.phase == BATCHING:
            state.phase = SEALED
        return _Node(FILLED)
    node = _Node(OBJECT, 1)
    node.stand = stand
    if stand == _CONSTRUCT:
        arguments, state = items[2], items[3]
        known = _BY_NAME.get((_text(reader, items[0]), _text(reader, items[1])))
        node.depth = max(1, arguments.depth, state.depth) if known is None or known.level else 0
        node.aimed = known is None or known.aimedHash
        node.size = min(1 + arguments.size + state.size, HASHED_SIZE_LIMIT + 1)
        node.loose = arguments.loose or state.loose
        node.phase = FRESH  # until its state is given, or it is taken as an item
        if state.phase == FRESH or state.phase == BATCHING:
            state.phase = SEALED
    elif stand == _MEMBER:
        reader.hashed(node, [items[2]], at)  # looked up by value: hashed like a key
        node.aimed = False  # a member hashes by its name
    elif stand == _INLINE:
        # A sync adapter's decode makes the value from its data, right here: it nests as the data does (the encoder
        # counts the adapted object as one level).
        data = items[2]
        node.depth = max(1, data.depth)
        node.loose = data.loose
    elif stand == _JOINED and reader.joinedDepth >= 0:
        node.depth = reader.joinedDepth  # the deepest of its parts: each part is that list's slice
    elif stand in _EXTERNAL:
        reader.external = True
    elif stand == _OUT_OF_BAND and len(items) == 3:
        node.depth = 1  # a list of numbers
    return node


_STRINGS = frozenset({STRING})
_INT = frozenset({SCALAR})
_STATE = frozenset({SCALAR, DICT})
_SHAPES: dict[int, dict[int, tuple[frozenset[int] | None, ...]]] = {
    _SEGMENT: {1: (_INT,)},
    _CONSTRUCT: {4: (_STRINGS, _STRINGS, frozenset({TUPLE}), _STATE)},
    _MEMBER: {3: (_STRINGS, _STRINGS, None)},
    _FILL: {2: (frozenset({OBJECT}), frozenset({DICT}))},
    _INLINE: {3: (_STRINGS, _STRINGS, None)},
    _ATTACHED: {1: (_INT,)},
    _OUT_OF_BAND: {2: (_INT, _INT), 3: (_INT, _INT, _STRINGS)},
    _CALLBACK: {1: (_INT,)},
    _JOINED: {0: ()},
}
"""Per stand-in, by how many arguments it takes, the kinds each may be (None: any value)."""
_OPNAMES = {ord(opcode.code.encode("latin-1")): opcode.name for opcode in pickletools.opcodes}
