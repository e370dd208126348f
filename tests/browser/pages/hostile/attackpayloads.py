"""Issue 20's attack payloads, written by hand opcode by opcode: the bytes both the unit attack suite
(``tests/unit/test_attacks.py``) decodes and the hostile page's worker (``worker_hostile.py``) sends its main thread.

This module needs only the standard library and workerlib (for the constants of its formats), so that it loads in
both places: the unit tests import it as ``tests.browser.pages.hostile.attackpayloads``, the hostile page's scripts
as the top-level module ``attackpayloads`` (``tests/browser/test_hostile.py`` lists it among the page's shared files).
The app classes a payload names (:class:`Link`, :class:`Account`, :data:`Perm`) are defined here, and named by their
``__module__``: wherever this module was imported from, a payload names them as that interpreter knows them.

The payloads of the issue decode as bare values (``codec.decode``) or, for the crash and the failure, as replies.
:data:`REPLIES` gives the crash, hang, depth, hashing, failure and framing payloads in the shape of a reply to a call,
as a hostile worker sends them (:func:`crafted`); the unit suite decodes those too (with ``protocol.decodeReply``).
"""

from __future__ import annotations

import dataclasses
import enum
import pickle
import pickletools
import random
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

from workerlib import codec

NESTING_LIMIT: int = getattr(codec, "NESTING_LIMIT", 500)


# ---- the app's classes the payloads name ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Link:
    """The frozen dataclass of :func:`crashingReply`: hashing one hashes the one it holds."""

    prev: object = None


@dataclasses.dataclass
class Account:
    owner: str = ""

    def describe(self) -> str:
        return f"the account of {self.owner}"


Perm = enum.Flag("Perm", "P0 P1 P2 P3 P4 P5 P6 P7 P8 P9 P10 P11 P12 P13 P14 P15")
"""A Flag of 16 bits: 65,536 combinations, each made (and cached in the class) by Flag's own ``_missing_``."""

APP_MODULE = Link.__module__
"""The module the app classes above live in, as this interpreter names it."""


# ---- opcodes -------------------------------------------------------------------------------------------------------

OPCODES = {op.name: op.code.encode("latin-1") for op in pickletools.opcodes}
PROTO = OPCODES["PROTO"] + b"\x05"
STOP = OPCODES["STOP"]
MARK, POP = OPCODES["MARK"], OPCODES["POP"]
NONE, NEWTRUE, NEWFALSE = OPCODES["NONE"], OPCODES["NEWTRUE"], OPCODES["NEWFALSE"]
EMPTY_TUPLE, TUPLE = OPCODES["EMPTY_TUPLE"], OPCODES["TUPLE"]
TUPLE1, TUPLE2, TUPLE3 = OPCODES["TUPLE1"], OPCODES["TUPLE2"], OPCODES["TUPLE3"]
EMPTY_LIST, APPEND, APPENDS = OPCODES["EMPTY_LIST"], OPCODES["APPEND"], OPCODES["APPENDS"]
EMPTY_DICT, SETITEM, SETITEMS = OPCODES["EMPTY_DICT"], OPCODES["SETITEM"], OPCODES["SETITEMS"]
EMPTY_SET, ADDITEMS, FROZENSET = OPCODES["EMPTY_SET"], OPCODES["ADDITEMS"], OPCODES["FROZENSET"]
STACK_GLOBAL, REDUCE = OPCODES["STACK_GLOBAL"], OPCODES["REDUCE"]
MEMOIZE, BINGET, LONG_BINGET = OPCODES["MEMOIZE"], OPCODES["BINGET"], OPCODES["LONG_BINGET"]


def text(value: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE pushing ``value``."""
    data = value.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return OPCODES["SHORT_BINUNICODE"] + bytes([len(data)]) + data
    return OPCODES["BINUNICODE"] + struct.pack("<I", len(data)) + data


def raw(value: bytes) -> bytes:
    """SHORT_BINBYTES or BINBYTES pushing ``value``."""
    if len(value) < 256:
        return OPCODES["SHORT_BINBYTES"] + bytes([len(value)]) + value
    return OPCODES["BINBYTES"] + struct.pack("<I", len(value)) + value


def integer(value: int) -> bytes:
    """The shortest opcode pushing the int ``value`` (BININT1, BININT2, BININT, LONG1 or LONG4)."""
    if 0 <= value < 256:
        return OPCODES["BININT1"] + bytes([value])
    if 0 <= value < 65536:
        return OPCODES["BININT2"] + struct.pack("<H", value)
    if -(2**31) <= value < 2**31:
        return OPCODES["BININT"] + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    if len(data) < 256:
        return OPCODES["LONG1"] + bytes([len(data)]) + data
    return OPCODES["LONG4"] + struct.pack("<I", len(data)) + data


def real(value: float) -> bytes:
    return OPCODES["BINFLOAT"] + struct.pack(">d", value)


def scalar(value: bool | int | float | str | bytes | None) -> bytes:
    if value is None:
        return NONE
    if value is True or value is False:
        return NEWTRUE if value else NEWFALSE
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, float):
        return real(value)
    if isinstance(value, str):
        return text(value)
    return raw(value)


Push = Callable[["Ops"], object]
"""Something that pushes one value when given the :class:`Ops` being written (for values :meth:`Ops.push` cannot
spell from a Python value: stand-in calls, shared references)."""

BATCH = 1000
"""Items per APPENDS, SETITEMS or ADDITEMS, as the pickler batches them."""


class Ops:
    """The opcodes of one pickle written by hand, its memo counted.

    Unless a payload's attack needs otherwise, it is written in the encoder's own form: every string, bytes, non-empty
    tuple, list, dict, set, stand-in and stand-in result memoized where it is made (a string written once and fetched
    after), containers filled in batches of :data:`BATCH`, an object's state inline when it holds scalars only and
    given by ``_fill`` otherwise. So a decoder that recognizes only the encoder's form must still refuse these
    payloads for what makes them attacks, not for how they are spelled.
    """

    def __init__(self, preset: Sequence[str] = ()) -> None:
        self.chunks: list[bytes] = []
        self.size = len(preset)  # memo entries: a tree part's keys are preset in the unpickler's memo
        self.strings: dict[str, int] = {key: index for index, key in enumerate(preset)}
        self.callables: dict[str, int] = {}

    def add(self, *chunks: bytes) -> Ops:
        self.chunks.extend(chunks)
        return self

    def memoize(self) -> int:
        self.chunks.append(MEMOIZE)
        self.size += 1
        return self.size - 1

    def get(self, index: int) -> Ops:
        if index < 256:
            return self.add(BINGET + bytes([index]))
        return self.add(LONG_BINGET + struct.pack("<I", index))

    def string(self, value: str) -> Ops:
        index = self.strings.get(value)
        if index is None:
            self.add(text(value))
            self.strings[value] = self.memoize()
            return self
        return self.get(index)

    def push(self, value: Any) -> Ops:
        """Opcodes pushing ``value``: a scalar, a str, bytes, a tuple, list or dict of such, or a :data:`Push`."""
        if callable(value):
            value(self)
        elif value is None or type(value) in (bool, int, float):
            self.add(scalar(value))
        elif type(value) is str:
            self.string(value)
        elif type(value) is bytes:
            self.add(raw(value)).memoize()
        elif type(value) is tuple:
            self.tuple(*value)
        elif type(value) is list:
            self.add(EMPTY_LIST).memoize()
            self.batches(list(value), APPEND, APPENDS)
        elif type(value) is dict:
            self.add(EMPTY_DICT).memoize()
            self.batches([pair for item in value.items() for pair in item], SETITEM, SETITEMS, 2)
        else:
            raise TypeError(f"cannot spell {type(value).__qualname__}")
        return self

    def tuple(self, *items: Any) -> Ops:
        if not items:
            return self.add(EMPTY_TUPLE)
        if len(items) > 3:
            self.add(MARK)
        for item in items:
            self.push(item)
        self.add({1: TUPLE1, 2: TUPLE2, 3: TUPLE3}.get(len(items), TUPLE)).memoize()
        return self

    def batches(self, items: list[Any], one: bytes, many: bytes, step: int = 1) -> Ops:
        """Fill the container on top of the stack with ``items`` (``step`` at a time: pairs for a dict)."""
        for start in range(0, len(items), BATCH * step):
            batch = items[start : start + BATCH * step]
            if len(batch) == step:
                for item in batch:
                    self.push(item)
                self.add(one)
            else:
                self.add(MARK)
                for item in batch:
                    self.push(item)
                self.add(many)
        return self

    def set(self, items: list[Any]) -> Ops:
        self.add(EMPTY_SET).memoize()
        for start in range(0, len(items), BATCH):
            self.add(MARK)
            for item in items[start : start + BATCH]:
                self.push(item)
            self.add(ADDITEMS)
        return self

    def standIn(self, name: str) -> Ops:
        """STACK_GLOBAL of ``workerlib.codec.<name>``, one of the decoder's stand-ins."""
        return self.string("workerlib.codec").string(name).add(STACK_GLOBAL)

    def callable(self, name: str) -> Ops:
        """The stand-in ``name``: looked up and memoized the first time, fetched from the memo after."""
        index = self.callables.get(name)
        if index is None:
            self.standIn(name)
            self.callables[name] = self.memoize()
            return self
        return self.get(index)

    def call(self, name: str, *args: Any) -> int:
        """``name(*args)``, the stand-in called as the encoder calls it; returns the result's memo index."""
        self.callable(name).tuple(*args).add(REDUCE)
        return self.memoize()

    def construct(self, module: str, qualname: str, args: Any = (), state: Any = None) -> int:
        """``_construct(module, qualname, args, state)``; returns the object's memo index."""
        return self.call("_construct", module, qualname, args, state)

    def fill(self, target: int, state: Any) -> Ops:
        """``_fill(object, state)`` for the object at memo ``target``, as the encoder writes it: its result popped."""
        self.callable("_fill").get(target).push(state)
        return self.add(TUPLE2, REDUCE, POP)

    def object(self, module: str, qualname: str, args: Any = (), state: dict[str, Any] | None = None) -> int:
        """An object as the encoder sends it: its state inline if it holds scalars only, else given by ``_fill``."""
        if state is None or all(value is None or type(value) in SCALAR_TYPES for value in state.values()):
            return self.construct(module, qualname, args, state)
        made = self.construct(module, qualname, args, None)
        self.fill(made, state)
        return made

    def nested(self, levels: int, inner: Any) -> Ops:
        """``levels`` lists, each holding the next, the innermost holding ``inner``."""
        for _ in range(levels):
            self.add(EMPTY_LIST).memoize()
        self.push(inner)
        return self.add(APPEND * levels)

    def pickle(self) -> bytes:
        return PROTO + b"".join(self.chunks) + STOP


SCALAR_TYPES = (bool, int, float, str, bytes)


def reference(index: int) -> Push:
    """A :data:`Push` of memo entry ``index`` (a shared value)."""
    return lambda ops: ops.get(index)


def calling(name: str, *args: Any) -> Push:
    """A :data:`Push` of the stand-in ``name`` called with ``args``."""
    return lambda ops: ops.call(name, *args)


def treePart(keys: Sequence[str], body: bytes) -> bytes:
    """A part of a list sent in parts, as a tree (``codec.TREE_PART``): ``keys`` preset in the unpickler's memo."""
    head = "\0".join(keys).encode("utf-8", "surrogatepass")
    return codec.TREE_PART + struct.pack("<I", len(head)) + head + body


def framed(index: bytes, pickles: Sequence[bytes]) -> bytes:
    """A payload with segments: ``MAGIC | u32 count | count x u64 lengths | index | root | segment 1 | ...``."""
    parts = [index, *pickles]
    header = codec.MAGIC + struct.pack(f"<I{len(parts)}Q", len(parts), *(len(part) for part in parts))
    return header + b"".join(parts)


# ---- the payloads: crashes and hangs --------------------------------------------------------------------------------


def crashingReply(links: int = 700, wrap: int = NESTING_LIMIT - 10, module: str = APP_MODULE) -> bytes:
    """A reply ``(True, {link}, None)``: ``links`` frozen dataclasses :class:`Link` (of ``module``), each holding the
    previous one under ``wrap`` levels of 1-tuples. Each is made, then filled (``_fill``) after the one above has
    taken it, top-down, so the screen records every one as a single level; the set hashes the top one, which recurses
    through all of them (700 x 490 = 343,000 C frames of ``tuplehash``). 700 KB (the issue's, its tuples not
    memoized, 389 KB)."""
    ops = Ops().add(NEWTRUE, EMPTY_SET)
    ops.memoize()
    ops.add(MARK)
    current = ops.construct(module, "Link")
    for _ in range(links - 1):
        ops.callable("_fill").get(current).add(EMPTY_DICT)
        ops.memoize()
        ops.string("prev")
        below = ops.construct(module, "Link")
        for _ in range(wrap):
            ops.add(TUPLE1).memoize()
        ops.add(SETITEM, TUPLE2, REDUCE, POP)
        current = below
    ops.add(ADDITEMS, NONE, TUPLE3)
    ops.memoize()
    return ops.pickle()


def sharedTuples(ops: Ops, levels: int) -> Ops:
    """Opcodes pushing one tuple holding t_0 = () ... t_levels, t_i = (t_{i-1}, t_{i-1}) through the memo: a few bytes
    a level, and 2**levels steps for whatever hashes it."""
    ops.add(MARK, EMPTY_TUPLE)
    last = ops.memoize()
    for _ in range(levels):
        last = ops.get(last).get(last).add(TUPLE2).memoize()
    return ops.add(TUPLE)


def hangingTreePart(levels: int = 40) -> bytes:
    """A part sent as a tree whose preset keys are ``"workerlib.codec"`` and ``"_member"``: a STACK_GLOBAL built from
    them reaches the ``_member`` stand-in, which the screen, knowing preset keys only as "some string", does not
    recognise; the Enum value is a chain of ``levels`` shared tuples, looked up among ``uuid.SafeUUID``'s values.
    303 bytes."""
    keys = ["workerlib.codec", "_member"]
    ops = Ops(preset=keys).add(EMPTY_LIST).get(0).get(1).add(STACK_GLOBAL, text("uuid"), text("SafeUUID"))
    sharedTuples(ops, levels).add(TUPLE3, REDUCE, APPEND)
    return treePart(keys, ops.pickle())


# ---- the payloads: depth bypasses ----------------------------------------------------------------------------------


def listsFilledAfterPop(levels: int = 5000) -> bytes:
    """``levels`` + 1 lists, each holding the next: all made and memoized first; then, from the top, each takes the
    next (still empty, so one level to the screen) and is POPped, leaving the next on the stack to be filled.
    44 KB."""
    ops = Ops()
    memo = {}
    for level in range(levels, -1, -1):  # the deepest list at the bottom of the stack, the top one above them all
        memo[level] = ops.add(EMPTY_LIST).memoize()
    for level in range(levels):
        ops.get(memo[level + 1]).add(APPEND, POP)
    ops.add(integer(0), APPEND, POP)
    return ops.get(memo[0]).pickle()


def exceptionChain(links: int = 3000) -> bytes:
    """``links`` ValueErrors, each holding the next as an attribute given by ``_fill``: each is filled after the one
    above took it, so the screen records every one at its depth before it was filled. 95 KB."""
    ops = Ops()
    current = ops.construct("builtins", "ValueError")
    for _ in range(links - 1):
        ops.callable("_fill").get(current).add(EMPTY_DICT)
        ops.memoize()
        ops.string("link")
        below = ops.construct("builtins", "ValueError")
        ops.add(SETITEM, TUPLE2, REDUCE, POP)
        current = below
    return ops.pickle()


BLOB_KEY = "__main__.Blob"


def segmentChain(segments: int = 20, levels: int = NESTING_LIMIT - 10, key: str = BLOB_KEY) -> bytes:
    """A payload with ``segments`` segments of an ``async`` adapter, each ``levels`` lists around ``_segment(next)``:
    the screen counts each stand-in's result as one level, so every segment passes, and the value they make is
    ``segments x levels`` deep (9,800 from 31 KB)."""
    root = Ops()
    root.call("_segment", 1)
    bodies = []
    for number in range(1, segments + 1):
        inner = calling("_segment", number + 1) if number < segments else 0
        bodies.append(Ops().nested(levels, inner).pickle())
    refers = ((1,), *[(number + 1,) for number in range(1, segments)], ())
    index = pickle.dumps(((key,) * segments, ("__main__",) * segments, refers), protocol=5)
    return framed(index, [root.pickle(), *bodies])


def joinedUnderLists(levels: int = NESTING_LIMIT - 1) -> tuple[bytes, bytes]:
    """A part holding one value ``levels`` deep (the part itself at the limit), and a payload putting the list the
    parts built (``_joined()``, one level to the screen) under ``levels`` lists: ``2 x levels + 1`` deep."""
    part = Ops().push([lambda ops: ops.nested(levels, 0)]).pickle()
    return part, Ops().nested(levels, calling("_joined")).pickle()


def emptyTupleInFrozenset(levels: int = NESTING_LIMIT) -> bytes:
    """A frozenset holding ``levels`` nested tuples around ``()``: the screen counts ``()`` as depth 0, so the value
    is one level deeper (``levels + 1``) than what it accepts."""
    ops = Ops().add(MARK, EMPTY_TUPLE)
    for _ in range(levels - 1):
        ops.add(TUPLE1).memoize()
    ops.add(FROZENSET).memoize()
    return ops.pickle()


# ---- the payloads: quadratic hashing -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TupleHash:
    """CPython's tuple hash (Objects/tupleobject.c, ``tuplehash``, xxHash-based) on a ``width``-bit build: 64 on
    this machine, 32 in Pyodide (wasm32, where ``sys.hash_info.width`` is 32), with other primes, rotation and
    modulus."""

    width: int
    prime1: int
    prime2: int
    prime5: int
    rotate: int
    modulus: int
    """Ints in [0, modulus) hash to themselves."""

    @property
    def word(self) -> int:
        return 2**self.width

    def rotated(self, value: int, bits: int) -> int:
        return ((value << bits) | (value >> (self.width - bits))) % self.word

    def step(self, accumulator: int, lane: int) -> int:
        """One item of the tuple hash."""
        accumulator = self.rotated((accumulator + lane * self.prime2) % self.word, self.rotate)
        return accumulator * self.prime1 % self.word


TUPLE_HASHES = {
    64: TupleHash(64, 11400714785074694791, 14029467366897019727, 2870177450012600261, 31, 2**61 - 1),
    32: TupleHash(32, 2654435761, 2246822519, 374761393, 13, 2**31 - 1),
}
"""The tuple hash of each build, by ``sys.hash_info.width``."""
SHARED_HASHES = {64: 0x5EED_0000_2020_0001, 32: 0x5EED_2021}
"""The hash the pairs of :func:`pairsSharingOneHash` share, by width."""


def pairsSharingOneHash(count: int, seed: int = 20, width: int = sys.hash_info.width) -> list[tuple[int, int]]:
    """``count`` distinct pairs of ints in [modulus / 2, modulus), all with one tuple hash on a ``width``-bit build
    (this interpreter's by default): the hash inverted for the second item (an int below the modulus hashes to
    itself), keeping the pairs whose second item falls in range. The modulus is 2**61 - 1 on 64 bits, 2**31 - 1 on
    32 (Pyodide)."""
    hashing = TUPLE_HASHES[width]
    word, modulus, low = hashing.word, hashing.modulus, (hashing.modulus + 1) // 2
    rng = random.Random(seed)
    final = (SHARED_HASHES[width] - (2 ^ (hashing.prime5 ^ 3527539))) % word
    beforeMultiply = final * pow(hashing.prime1, -1, word) % word
    beforeRotate = hashing.rotated(beforeMultiply, width - hashing.rotate)
    inverse2 = pow(hashing.prime2, -1, word)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        first = rng.randrange(low, modulus)
        second = (beforeRotate - hashing.step(hashing.prime5, first)) * inverse2 % word
        if low <= second < modulus:
            pairs.append((first, second))
    return pairs


def tuplesSharingOneHash(size: int = 375_000) -> bytes:
    """A set of pairs of ints below the hash modulus (2**61 - 1 here, 2**31 - 1 in Pyodide) that share one hash on
    this interpreter's build: no big int, so no flood limit counts them, and building the set takes n**2 / 2
    comparisons. ``size // 22`` pairs: 375 KB (17,000 pairs) here, where each pair takes 22 bytes; 12 bytes each
    on 32 bits."""
    pairs = pairsSharingOneHash(size // 22)
    assert len({hash(pair) for pair in pairs}) == 1, "the pairs must share one hash"
    assert len({first for first, _ in pairs}) == len(pairs), "and be distinct"  # (a set of the pairs is quadratic)
    return Ops().set(list(pairs)).pickle()


def complexesSharingOneHash(size: int = 375_000) -> bytes:
    """A set of ``complex(-1000003 * k, k)``, which all hash to 0 (``hash(real) + 1000003 * hash(imag)``), each
    built by ``_construct`` from two floats: not counted as numbers whose hash a sender chooses. 375 KB."""
    values = [complex(-1000003.0 * k, float(k)) for k in range(1, size // 33)]
    assert {hash(value) for value in values} == {0}
    items = [calling("_construct", "builtins", "complex", (value.real, value.imag), None) for value in values]
    return Ops().set(items).pickle()


# ---- the payloads: amplification -----------------------------------------------------------------------------------

BUFFER = bytes(2**20)
"""The one out-of-band buffer :func:`bufferReferences` refers to, over and over."""


def bufferReferences(copies: int = 300) -> bytes:
    """A list of ``copies`` references to out-of-band buffer 0, as a ``bytearray``: 9 bytes each, a full copy of the
    buffer each. 3 KB, with one 1 MiB buffer."""
    return Ops().push([calling("_outOfBand", 0, True)] * copies).pickle()


def decimalReferences(digits: int = 999_000, copies: int = 600) -> bytes:
    """A memoized string of ``digits`` digits, then ``copies`` Decimals made from it, 16 bytes each: a fresh 420 KB
    Decimal each time. 1 MB."""
    number = "9" * digits
    return Ops().push([calling("_construct", "decimal", "Decimal", (number,), None)] * copies).pickle()


def fractionReferences(count: int = 500, bits: int = 65536) -> bytes:
    """Two memoized ints of ``bits`` bits, then ``count`` Fractions of them, 18 bytes each: a gcd of two
    65,536-bit ints (3.5 ms) for each. 25 KB."""
    rng = random.Random(bits)
    numerator = rng.getrandbits(bits - 1) | 1 << (bits - 1)
    denominator = rng.getrandbits(bits - 1) | 1 << (bits - 1) | 1
    memo: list[int] = []

    def numbers(ops: Ops) -> None:  # the pickler never memoizes an int: the attack does
        if not memo:
            memo.extend([ops.add(integer(numerator)).memoize(), ops.add(integer(denominator)).memoize()])
            ops.add(TUPLE2).memoize()
        else:
            ops.get(memo[0]).get(memo[1]).add(TUPLE2).memoize()

    return Ops().push([calling("_construct", "fractions", "Fraction", numbers, None)] * count).pickle()


def screenedReferences(count: int = 500_000) -> bytes:
    """A list holding a complex (so the screen reads the payload opcode by opcode) and ``count`` references to an
    empty list, which may still grow, in one batch (the encoder's hold 1,000): the screen makes a node and a list
    for each of those 2-byte BINGETs and keeps them to the batch's end, 100 bytes for each byte (4 MB screened took
    401 MB). 1 MB."""
    ops = Ops().add(EMPTY_LIST)
    ops.memoize()
    ops.add(MARK).construct("builtins", "complex", (1.0, 2.0))
    shared = ops.add(EMPTY_LIST).memoize()
    return ops.add((BINGET + bytes([shared])) * count, APPENDS).pickle()


def straddlingFrame(reply: bool = False) -> bytes:
    """A frame that ends inside an opcode (the encoder ends frames between opcodes). The C unpickler reads a frame
    ahead and serves a read that runs past its end from the bytes after it, dropping what was left of the frame: the
    BINBYTES's length is then read three bytes later than the screen reads it, and claims 1.6 GB. Found by the
    grammar-aware fuzz (tests/unit/test_decoder_fuzz.py), not in the issue. 24 bytes; with ``reply``, the list is
    the value of a reply ``(True, list, None)`` (28 bytes)."""
    head, tail = (NEWTRUE, NONE + TUPLE3 + MEMOIZE) if reply else (b"", b"")
    body = head + EMPTY_LIST + MEMOIZE + MARK + b"B" + b"\x04"  # the frame ends after the length's first byte
    after = b"\x00\x00\x00" + b"bbbb" + MEMOIZE + APPENDS + tail + STOP  # what the screen reads: 4 bytes of b's
    return b"\x80\x05" + b"\x95" + struct.pack("<Q", len(body)) + body + after


# ---- the payloads: object state ------------------------------------------------------------------------------------


def dictReplacingState(module: str, qualname: str) -> bytes:
    """An instance of the dataclass ``module.qualname`` given the state ``{"__dict__": {"describe": "shadowed", 5:
    "not a str"}}``: the instance's ``__dict__`` replaced wholesale, a method shadowed and a key that is not a str."""
    ops = Ops()
    ops.object(module, qualname, (), {"__dict__": {"describe": "shadowed", 5: "not a str"}})
    return ops.pickle()


def notesAsText() -> bytes:
    """A ValueError whose ``__notes__`` is a str: ``add_note`` on it raises ``TypeError``."""
    ops = Ops()
    ops.object("builtins", "ValueError", ("boom",), {"__notes__": "not a list"})
    return ops.pickle()


def failureReply(exception: bytes, typeName: str, message: str) -> bytes:
    """A reply ``(False, RemoteFailure(...), None)`` carrying ``exception``, the payload of the exception raised."""
    state = {
        "exception": exception,
        "typeName": typeName,
        "message": message,
        "tracebackText": "",
        "cause": None,
        "explicitCause": True,
    }
    ops = Ops().add(NEWFALSE)
    ops.object("workerlib.protocol", "RemoteFailure", (), state)
    ops.add(NONE, TUPLE3).memoize()
    return ops.pickle()


def naming(module: str, qualname: str) -> bytes:
    """``_construct(module, qualname, (), None)``: only a class to look up."""
    ops = Ops()
    ops.construct(module, qualname)
    return ops.pickle()


def flagPseudoMembers(module: str, qualname: str, values: Sequence[int]) -> bytes:
    """A list of ``_member(module, qualname, value)`` for each of ``values``, 13 bytes each: combinations of a Flag's
    bits, each made by Flag's ``_missing_`` and cached in the class for good."""
    return Ops().push([calling("_member", module, qualname, value) for value in values]).pickle()


def longAttributeName(module: str, qualname: str, name: str) -> bytes:
    """A dataclass given the attribute ``name`` (a long string of the payload's): ``rebuild``'s attribute cache keeps
    the name, so the payload's string, for the session's life."""
    ops = Ops()
    ops.object(module, qualname, (), {name: 1})
    return ops.pickle()


OUT_OF_RANGE_DATETIME = b"\xff\xff\x0c" + b"\xff" * 7
"""``datetime``'s pickled state for datetime(65535, 12, 255, 255, 255, 255, 16777215): the constructor taking it
checks only the length and the month."""


def datetimeOutOfRange() -> bytes:
    """``_construct("datetime", "datetime", (state,), None)`` with :data:`OUT_OF_RANGE_DATETIME`."""
    ops = Ops()
    ops.construct("datetime", "datetime", (OUT_OF_RANGE_DATETIME,))
    return ops.pickle()


def unicodeErrorOutOfRange(start: int = -(2**40)) -> bytes:
    """A UnicodeDecodeError made from sane arguments, then given ``start`` and ``end = start + 1`` as state: written
    through the C member descriptors, past the constructor; ``str()`` then reads ``object[start]``."""
    ops = Ops()
    args = ("utf-8", b"abc", 0, 1, "bad")
    ops.object("builtins", "UnicodeDecodeError", args, {"start": start, "end": start + 1})
    return ops.pickle()


# ---- the payloads as replies, as a hostile worker sends them -------------------------------------------------------


def asReply(payload: bytes) -> bytes:
    """The value a payload of :class:`Ops` pushes, sent as the reply ``(True, value, None)``: its opcodes between a
    NEWTRUE and ``NONE, TUPLE3``, memo indexes unchanged (NEWTRUE memoizes nothing), the reply memoized as the
    encoder memoizes it."""
    if not (payload.startswith(PROTO) and payload.endswith(STOP)):
        raise ValueError("not a payload written by Ops")
    return PROTO + NEWTRUE + payload[len(PROTO) : -len(STOP)] + NONE + TUPLE3 + MEMOIZE + STOP


def hangingReply(levels: int = 40, module: str = "uuid", qualname: str = "SafeUUID") -> bytes:
    """The reply ``(True, _member(module, qualname, value), None)`` whose value is a chain of ``levels`` shared
    tuples (:func:`sharedTupleChain`): looking the member up hashes it, 2**levels steps. All of it is spelled as the
    encoder spells it, so only the value's shape can refuse it. About 220 bytes. The screen at issue 20 refused this
    form already (it knew the stand-in by name there, and measured the value's hashed size); :func:`hangingTreePart`
    is the form that got past it. This one guards the check itself."""
    ops = Ops().add(NEWTRUE)
    ops.call("_member", module, qualname, lambda inner: sharedTupleChain(inner, levels))
    ops.add(NONE, TUPLE3).memoize()
    return ops.pickle()


def sharedTupleChain(ops: Ops, levels: int) -> Ops:
    """Opcodes pushing t_levels, where t_0 = () and t_i = (t_{i-1}, t_{i-1}), as the encoder writes it: each tuple
    made where it is first used, memoized, and fetched for its second use; the empty tuple (never memoized) written
    twice. 4 bytes a level, and 2**levels steps for whatever hashes it."""
    ops.add(EMPTY_TUPLE, EMPTY_TUPLE, TUPLE2)
    last = ops.memoize()
    for _ in range(levels - 1):
        last = ops.get(last).add(TUPLE2).memoize()
    return ops


def joinedReply() -> bytes:
    """The reply ``(True, _joined(), None)``: its value is the list the parts sent ahead of it built."""
    ops = Ops().add(NEWTRUE)
    ops.call("_joined")
    ops.add(NONE, TUPLE3).memoize()
    return ops.pickle()


UNICODE_ERROR_MESSAGE = "'utf-8' codec can't decode byte 0x61 in position 0: bad"
"""The message the failure reply of :func:`unicodeErrorFailure` states, as ``str()`` of the worker's error."""


def unicodeErrorFailure(start: int = -(2**40)) -> bytes:
    """The reply of a call that failed with :func:`unicodeErrorOutOfRange`'s ``UnicodeDecodeError``."""
    return failureReply(unicodeErrorOutOfRange(start), "builtins.UnicodeDecodeError", UNICODE_ERROR_MESSAGE)


REPLY_HASHING_SIZE = 200_000
"""The ``size`` of :func:`tuplesSharingOneHash` sent as a reply: 9,090 pairs (200 KB here, 109 KB in Pyodide), which
the decoder at issue 20 took 1.6 s of CPU to put in a set on this machine's CPython and 3.2 s in Pyodide 314.0.2
(0.9 s for half as many: quadratic); within a page's call deadline (10 s) even then."""


@dataclasses.dataclass(frozen=True)
class Crafted:
    """What a hostile worker answers one call with: the reply, and the parts it sends ahead of it."""

    reply: bytes
    parts: tuple[bytes, ...] = ()


def crafted(kind: str, member: tuple[str, str] = ("uuid", "SafeUUID")) -> Crafted:
    """The attack :data:`REPLIES` names ``kind``, as a reply to a call; ``member`` is the Enum (module, qualname) the
    hanging reply looks its member up in."""
    builders: dict[str, Callable[[], Crafted]] = {
        "crashingReply": lambda: Crafted(crashingReply()),
        "hangingReply": lambda: Crafted(hangingReply(40, *member)),
        "hangingTreePart": lambda: Crafted(joinedReply(), (hangingTreePart(),)),
        "listsFilledAfterPop": lambda: Crafted(asReply(listsFilledAfterPop())),
        "exceptionChain": lambda: Crafted(asReply(exceptionChain())),
        "emptyTupleInFrozenset": lambda: Crafted(asReply(emptyTupleInFrozenset())),
        "tuplesSharingOneHash": lambda: Crafted(asReply(tuplesSharingOneHash(REPLY_HASHING_SIZE))),
        "unicodeErrorOutOfRange": lambda: Crafted(unicodeErrorFailure()),
        "straddlingFrame": lambda: Crafted(straddlingFrame(reply=True)),
    }
    if kind not in builders:
        raise ValueError(f"no crafted reply {kind!r}")
    return builders[kind]()


REPLIES = (
    "crashingReply",
    "hangingReply",
    "hangingTreePart",
    "listsFilledAfterPop",
    "exceptionChain",
    "emptyTupleInFrozenset",
    "tuplesSharingOneHash",
    "unicodeErrorOutOfRange",
    "straddlingFrame",
)
"""The attacks :func:`crafted` sends as replies: the crash, the two hangs, the depth bypasses, quadratic hashing, the
out-of-range ``UnicodeDecodeError`` (a failure reply: the only one a caller gets an answer from, a ``RemoteError``)
and the straddling frame."""
FAILURES = {"unicodeErrorOutOfRange": "builtins.UnicodeDecodeError"}
"""Those of :data:`REPLIES` that are failure replies, and the type they name: the caller gets a ``RemoteError`` of
that type in place of the exception its payload could not rebuild, where every other reply is refused whole."""
