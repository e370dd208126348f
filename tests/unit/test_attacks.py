"""Issue 20's attacks on the value layer: one test per finding of the issue's value layer (its item 6).

Every payload is written by hand, opcode by opcode (pickletools' names), by a small named function below, so that the
same bytes can be sent from elsewhere (a hostile worker in a browser test). Each test states the promise the decoder
keeps for whatever a thread receives:

* decoding raises a ``workerlib`` error (``DecodeError`` where the payload is one the encoder never makes), or, where
  the issue allows it, returns a value; never any other exception, never a crash, never a hang;
* it spends at most :func:`cpuBound` seconds of CPU (``time.process_time``) and :func:`memoryBound` bytes at its
  ``tracemalloc`` peak, both a fixed multiple of the payload's length, out-of-band buffers and parts included:

  - CPU: :data:`CPU_FIXED` (50 ms) + :data:`CPU_PER_BYTE` (2 us) per byte;
  - memory: :data:`MEMORY_FIXED` (1 MiB) + :data:`MEMORY_PER_BYTE` (128) bytes per byte;

* nothing outside the decoded value changes: no new ``sys.modules`` entries, the app classes' dicts, their Enum and
  Flag caches as they were, no code of theirs run, no payload string kept alive by workerlib.

Unless an attack needs otherwise, a payload is written in the encoder's own form (see :class:`Ops`), so that a
decoder accepting only that form must refuse it for what makes it an attack, not for how it is spelled.

Payloads that crash or hang the decoder at issue 20 (a segfault in ``hash``, 2**40 hash steps, values deeper than
CPython's C stack, out-of-range exception fields), and the large ones, are decoded in a child interpreter with a CPU
alarm, a time limit and a cap on its address space: a regression fails the test instead of killing or stalling the
run. The child decodes twice: once for its CPU time, then under ``tracemalloc`` (which slows allocations several
times over) for its peak; it reports the outcome, both measures, the modules it imported and the depth of anything it
decoded. The others are decoded here, the same two ways (:func:`attempt`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import json
import os
import pathlib
import pickle
import pickletools
import random
import resource
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

import workerlib
from workerlib import codec, nesting, protocol

NESTING_LIMIT: int = getattr(codec, "NESTING_LIMIT", 500)

# ---- the bounds ----------------------------------------------------------------------------------------------------

CPU_FIXED = 0.050
"""Seconds of CPU any decode may take, whatever its payload's length."""
CPU_PER_BYTE = 2e-6
"""Further seconds of CPU per byte of payload (out-of-band buffers and parts included): three times what the
decoder at issue 20 spends on an honest payload of dataclass records with dates (0.7 us a byte), twenty-five times
what it spends on one of built-in values."""
MEMORY_FIXED = 2**20
"""Bytes a decode may allocate (its ``tracemalloc`` peak), whatever its payload's length."""
MEMORY_PER_BYTE = 128
"""Further bytes allocated per byte of payload: records take about 15, a list of empty dicts about 40, of Flag
combinations 48, of empty sets 116 (an empty set is 216 bytes, written in 2): what an honest value may take is the
multiple. The screen's own bookkeeping has a tighter bound of its own (:data:`SCREEN_PER_BYTE`)."""
SCREEN_PER_BYTE = 40
"""Bytes a payload of references to one list may cost per byte: the value itself takes 4 (8 bytes per 2-byte
reference), so a screen that made anything per reference would show."""


def cpuBound(size: int) -> float:
    return CPU_FIXED + CPU_PER_BYTE * size


def memoryBound(size: int) -> int:
    return MEMORY_FIXED + MEMORY_PER_BYTE * size


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

LINK_SETUP = """
import dataclasses
@dataclasses.dataclass(frozen=True)
class Link:
    prev: object = None
"""
"""The frozen dataclass the crashing reply names, as ``__main__.Link`` of the child interpreter."""


def crashingReply(links: int = 700, wrap: int = NESTING_LIMIT - 10, module: str = "__main__") -> bytes:
    """A reply ``(True, {link}, None)``: ``links`` frozen dataclasses ``Link``, each holding the previous one under
    ``wrap`` levels of 1-tuples. Each is made, then filled (``_fill``) after the one above has taken it, top-down,
    so the screen records every one as a single level; the set hashes the top one, which recurses through all of
    them (700 x 490 = 343,000 C frames of ``tuplehash``). 700 KB (the issue's, its tuples not memoized, 389 KB)."""
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


BLOB_SETUP = """
from workerlib import adapter
class Blob:
    pass
async def encodeBlob(blob):
    return []
async def decodeBlob(data):
    return data
adapter(Blob, encode=encodeBlob, decode=decodeBlob)
"""
"""An ``async`` adapter whose ``decode`` returns its data, as the child's ``__main__.Blob``."""
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

_WORD = 2**64
_XXPRIME_1, _XXPRIME_2, _XXPRIME_5 = 11400714785074694791, 14029467366897019727, 2870177450012600261
_HASH_MODULUS = 2**61 - 1


def _tupleStep(accumulator: int, lane: int) -> int:
    """One item of CPython's tuple hash (Objects/tupleobject.c, ``tuplehash``, xxHash-based), on 64 bits."""
    accumulator = (accumulator + lane * _XXPRIME_2) % _WORD
    accumulator = ((accumulator << 31) | (accumulator >> 33)) % _WORD
    return accumulator * _XXPRIME_1 % _WORD


def pairsSharingOneHash(count: int, seed: int = 20) -> list[tuple[int, int]]:
    """``count`` distinct pairs of ints in [2**60, 2**61 - 1), all with one tuple hash: the hash inverted for the
    second item (an int below the modulus hashes to itself), keeping the pairs whose second item falls in range."""
    rng = random.Random(seed)
    target = 0x5EED_0000_2020_0001
    final = (target - (2 ^ (_XXPRIME_5 ^ 3527539))) % _WORD
    beforeMultiply = final * pow(_XXPRIME_1, -1, _WORD) % _WORD
    beforeRotate = ((beforeMultiply >> 31) | (beforeMultiply << 33)) % _WORD
    inverse2 = pow(_XXPRIME_2, -1, _WORD)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        first = rng.randrange(2**60, _HASH_MODULUS)
        second = (beforeRotate - _tupleStep(_XXPRIME_5, first)) * inverse2 % _WORD
        if 2**60 <= second < _HASH_MODULUS:
            pairs.append((first, second))
    return pairs


def tuplesSharingOneHash(size: int = 375_000) -> bytes:
    """A set of pairs of ints below 2**61 that share one hash: no big int, so no flood limit counts them, and
    building the set takes n**2 / 2 comparisons. 375 KB (17,000 pairs)."""
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


def straddlingFrame() -> bytes:
    """A frame that ends inside an opcode (the encoder ends frames between opcodes). The C unpickler reads a frame
    ahead and serves a read that runs past its end from the bytes after it, dropping what was left of the frame: the
    BINBYTES's length is then read three bytes later than the screen reads it, and claims 1.6 GB. Found by the
    grammar-aware fuzz (tests/unit/test_decoder_fuzz.py), not in the issue. 24 bytes."""
    body = EMPTY_LIST + MEMOIZE + MARK + b"B" + b"\x04"  # the frame ends after the length's first byte
    after = b"\x00\x00\x00" + b"bbbb" + MEMOIZE + APPENDS + STOP  # what the screen reads: 4 bytes of b's
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


# ---- decoding in a child interpreter -------------------------------------------------------------------------------

CHILD = r"""
import json, pickle, signal, sys, time, tracemalloc
job = pickle.loads(sys.stdin.buffer.read())
import workerlib
from workerlib import codec, nesting, protocol
exec(job["setup"])

def run():
    runner, payload = job["runner"], job["payload"]
    if runner == "decode":
        return codec.decode(payload, buffers=job["buffers"])
    if runner == "decodePart":
        return codec.decodePart(payload)
    if runner == "joined":  # the parts decoded one by one, as they arrive, into the list the payload refers to
        joined = []
        for part in job["parts"]:
            joined += codec.decodePart(part)
        return codec.runNow(codec.decodeAsync(payload, joined=joined), "decoding")
    if runner == "decodeReply":
        return codec.runNow(protocol.decodeReply(payload), "decoding a reply")
    raise SystemExit(f"unknown runner {runner}")

codec.decode(codec.encode([1, "warm", {"up": (2.5, None)}, 2**70, 1 + 2j, [b"x"] * 3]))  # caches filled first
modules = set(sys.modules)

def attempt():
    try:
        return run(), "decoded", ""
    except workerlib.WorkerlibError as error:
        return None, "refused", f"{type(error).__name__}: {str(error)[:300]}"
    except BaseException as error:
        return None, "foreign", f"{type(error).__name__}: {str(error)[:300]}"

# Two passes: CPU time without tracemalloc (which slows every allocation several times over), then the peak with it.
print("STARTED", flush=True)
signal.setitimer(signal.ITIMER_PROF, job["cpuAlarm"])  # SIGPROF, unhandled, ends the child past it
start = time.process_time()
value, outcome, message = attempt()
cpu = time.process_time() - start
signal.setitimer(signal.ITIMER_PROF, 0)
report = {"outcome": outcome, "message": message, "cpu": cpu, "peak": None}
report["imported"] = sorted(set(sys.modules) - modules)
if outcome == "decoded":
    report["type"] = type(value).__qualname__
    report["depth"] = nesting.depthOf(value)
if cpu <= job["cpuBound"]:  # (past it, the test fails already: no need to wait for a second pass)
    print("MEASURING", flush=True)
    tracemalloc.start()
    again = attempt()
    report["peak"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del again
print("REPORT " + json.dumps(report), flush=True)
exec(job["after"])
print("EXITED", flush=True)
"""

CHILD_ADDRESS_SPACE = 4 * 2**30
"""A cap on the child's memory, so that a payload making the decoder allocate without bound fails the test."""


CHILD_SECONDS = 5.0
CHILD_SLACK = 10
"""A child is given ``CHILD_SECONDS`` plus ``CHILD_SLACK`` times the CPU bound: its start, a pass measuring CPU, and a
pass measuring memory under ``tracemalloc`` (which slows allocations several times over)."""


def cpuAlarm(size: int) -> float:
    """The CPU time after which a child's first pass is ended (by SIGPROF): past its bound, the test fails anyway, and
    a hang or quadratic work need not be waited for."""
    return 0.5 + 2 * cpuBound(size)


def capMemory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))


@dataclasses.dataclass
class ChildReport:
    """What a child interpreter said (or did) decoding one payload."""

    size: int
    """The payload's length, its buffers and parts included: what the bounds are multiples of."""
    returncode: int | None
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    timeout: float

    def stage(self) -> str:
        if "REPORT" in self.stdout:
            return "after decoding (using the value)"
        if "MEASURING" in self.stdout:
            return "decoding again under tracemalloc"
        return "while decoding" if "STARTED" in self.stdout else "before decoding"

    def problems(self, refused: bool = True) -> list[str]:
        """How the promise was broken: a crash, a hang, an exception not workerlib's, a value where ``refused``,
        CPU or memory past the bounds, a module imported."""
        if self.returncode is None:
            bound = cpuBound(self.size)
            return [f"a hang: still running {self.stage()} after {self.timeout:.1f} s (CPU bound {bound:.2f} s)"]
        found = []
        if self.returncode == -signal.SIGPROF:
            alarm, bound = cpuAlarm(self.size), cpuBound(self.size)
            return [f"still decoding after {alarm:.2f} s of CPU, stopped there: past the bound of {bound:.3f} s"]
        if self.returncode != 0:
            found.append(
                f"a crash {self.stage()}: the child died with exit code {self.returncode}"
                + (" (SIGSEGV)" if self.returncode == -11 else "")
                + f"; stderr: {self.stderr[-600:]}"
            )
        report = self.report
        if report is None:
            return found or ["the child printed no report"]
        outcome = report["outcome"]
        if outcome == "foreign":
            found.append(f"raised an exception that is not workerlib's: {report['message']}")
        elif outcome == "decoded" and refused:
            found.append(f"decoded to a {report['type']} {report['depth']} levels deep instead of a DecodeError")
        if report["cpu"] > cpuBound(self.size):
            found.append(f"took {report['cpu']:.2f} s of CPU, past the bound of {cpuBound(self.size):.3f} s")
        peak = report["peak"]
        if peak is not None and peak > memoryBound(self.size):
            found.append(f"allocated {peak:,} bytes at its peak, past the bound of {memoryBound(self.size):,}")
        if report["imported"]:
            found.append(f"imported {report['imported']}")
        return found


def decodeInChild(
    runner: str,
    payload: bytes,
    *,
    setup: str = "",
    after: str = "",
    buffers: Sequence[bytes] = (),
    parts: Sequence[bytes] = (),
    timeout: float | None = None,
) -> ChildReport:
    """Decode ``payload`` in a fresh interpreter importing this same workerlib, with ``runner`` (``decode``,
    ``decodePart``, ``joined`` after decoding ``parts``, ``decodeReply``), ``setup`` run first (classes, adapters:
    the child's ``__main__``) and ``after`` run once the report is printed (``value`` is what was decoded)."""
    size = len(payload) + sum(map(len, buffers)) + sum(map(len, parts))
    limit = timeout if timeout is not None else CHILD_SECONDS + CHILD_SLACK * cpuBound(size)
    job = {
        "cpuBound": cpuBound(size),
        "cpuAlarm": cpuAlarm(size),
        "runner": runner,
        "payload": payload,
        "buffers": list(buffers),
        "parts": list(parts),
        "setup": setup,
        "after": after,
    }
    root = pathlib.Path(codec.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD],
            input=pickle.dumps(job, protocol=5),
            capture_output=True,
            timeout=limit,
            env=env,
            preexec_fn=capMemory,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else ""
        return ChildReport(size, None, out, "", None, limit)
    stdout = done.stdout.decode(errors="replace")
    report = None
    for line in stdout.splitlines():
        if line.startswith("REPORT "):
            report = json.loads(line[len("REPORT ") :])
    return ChildReport(size, done.returncode, stdout, done.stderr.decode(errors="replace"), report, limit)


def assertKept(child: ChildReport, what: str, refused: bool = True) -> None:
    problems = child.problems(refused)
    assert not problems, f"{what} ({child.size:,} bytes): " + "; ".join(problems)


# ---- decoding here -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Attempt:
    value: Any
    error: BaseException | None
    cpu: float
    peak: int
    size: int

    def problems(self, refused: bool = True) -> list[str]:
        found = []
        if self.error is not None and not isinstance(self.error, workerlib.WorkerlibError):
            found.append(f"raised an exception that is not workerlib's: {type(self.error).__name__}: {self.error}")
        elif self.error is None and refused:
            found.append(f"decoded to a {type(self.value).__qualname__} instead of a DecodeError")
        if self.cpu > cpuBound(self.size):
            found.append(f"took {self.cpu:.2f} s of CPU, past the bound of {cpuBound(self.size):.3f} s")
        if self.peak > memoryBound(self.size):
            found.append(f"allocated {self.peak:,} bytes at its peak, past the bound of {memoryBound(self.size):,}")
        return found


def attempt(call: Callable[[], Any], size: int, between: Callable[[], None] | None = None) -> Attempt:
    """Run ``call`` (a decode of ``size`` bytes) here twice: once for its CPU time, then (after ``between``, which
    checks and puts back what the first run changed) once under ``tracemalloc`` for its peak. The first run's outcome
    counts."""
    gc.collect()
    start = time.process_time()
    try:
        value, error = call(), None
    except Exception as raised:
        value, error = None, raised
    cpu = time.process_time() - start
    if between is not None:
        between()
    gc.collect()
    tracemalloc.start()
    try:
        with contextlib.suppress(Exception):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return Attempt(value, error, cpu, peak, size)


def assertHeld(result: Attempt, what: str, refused: bool = True) -> None:
    problems = result.problems(refused)
    assert not problems, f"{what} ({result.size:,} bytes): " + "; ".join(problems)


# ---- the app's classes, and what a payload must leave as it was ----------------------------------------------------


@dataclasses.dataclass
class Account:
    owner: str = ""

    def describe(self) -> str:
        return f"the account of {self.owner}"


Perm = enum.Flag("Perm", "P0 P1 P2 P3 P4 P5 P6 P7 P8 P9 P10 P11 P12 P13 P14 P15")
"""A Flag of 16 bits: 65,536 combinations, each made (and cached in the class) by Flag's own ``_missing_``."""

APP_CLASSES: list[type] = [Account, Perm]


def outside() -> dict[str, Any]:
    """What a payload must not change: the modules imported, the app classes' dicts, their Enum and Flag caches."""
    state: dict[str, Any] = {"sys.modules": set(sys.modules)}
    for cls in APP_CLASSES:
        state[cls.__qualname__] = dict(vars(cls))
        if issubclass(cls, enum.Enum):
            state[f"{cls.__qualname__}._value2member_map_"] = dict(cls._value2member_map_)
            state[f"{cls.__qualname__}._member_map_"] = dict(cls._member_map_)
    return state


def changes(before: dict[str, Any]) -> list[str]:
    now = outside()
    found = []
    if now["sys.modules"] != before["sys.modules"]:
        found.append(f"modules imported: {sorted(now['sys.modules'] - before['sys.modules'])}")
    for name, then in before.items():
        if name == "sys.modules":
            continue
        current = now[name]
        same = current.keys() == then.keys() and all(current[key] is value for key, value in then.items())
        if not same:
            added = len(current.keys() - then.keys())
            found.append(f"{name} changed ({added} entries added, {len(then.keys() - current.keys())} removed)")
    return found


@pytest.fixture
def permCacheRestored() -> Iterator[None]:
    """Puts Perm's caches back as they were, so that a failure here does not spread to other tests."""
    values, members = dict(Perm._value2member_map_), dict(Perm._member_map_)
    yield
    Perm._value2member_map_.clear()
    Perm._value2member_map_.update(values)
    Perm._member_map_.clear()
    Perm._member_map_.update(members)


TOUCHED: list[str] = []
"""What the app's lookup hooks below ran: naming a class must never run them."""


class RecordingMeta(type):
    """A metaclass whose ``__getattr__`` answers names its classes lack (a plugin registry, say)."""

    def __getattr__(cls, name: str) -> Any:
        TOUCHED.append(f"{cls.__name__}.{name}, through the metaclass's __getattr__")
        raise AttributeError(name)


class ProxyModule(types.ModuleType):
    """A module object that is a proxy (a lazy import): every attribute looked up on it runs its code."""

    def __getattribute__(self, name: str) -> Any:
        TOUCHED.append(f"the module proxy's {name}, through its __getattribute__")
        return super().__getattribute__(name)


class LazyProxy:
    """A module-level proxy object (a lazily made client, say)."""

    def __getattribute__(self, name: str) -> Any:
        TOUCHED.append(f"the lazy proxy's {name}, through its __getattribute__")
        return object.__getattribute__(self, name)


PLANTED = {
    "metaclass": ("workerlib_attack_meta", "Shape"),
    "module-proxy": ("workerlib_attack_proxy", "Thing"),
    "attribute-proxy": ("workerlib_attack_lazy", "lazy.Thing"),
}


@pytest.fixture
def planted() -> Iterator[None]:
    """The app's modules for the naming attacks, in ``sys.modules`` for the test only."""
    meta = types.ModuleType("workerlib_attack_meta")
    meta.Shape = RecordingMeta("Shape", (), {"__module__": "workerlib_attack_meta"})  # type: ignore[attr-defined]
    lazy = types.ModuleType("workerlib_attack_lazy")
    lazy.lazy = LazyProxy()  # type: ignore[attr-defined]
    modules = {"workerlib_attack_meta": meta, "workerlib_attack_proxy": ProxyModule("workerlib_attack_proxy")}
    modules["workerlib_attack_lazy"] = lazy
    sys.modules.update(modules)
    TOUCHED.clear()
    yield
    for name in modules:
        sys.modules.pop(name, None)
    TOUCHED.clear()


# ---- 1. crashes and hangs ------------------------------------------------------------------------------------------


def test_a_reply_of_nested_frozen_dataclasses_in_a_set_is_refused_not_a_crash() -> None:
    # 389 KB segfaulted the main thread inside protocol.decodeReply: hashing the set's one item recursed ~343,000
    # C frames through 700 dataclasses and 490 levels of tuples between each.
    payload = crashingReply()
    child = decodeInChild("decodeReply", payload, setup=LINK_SETUP)
    assertKept(child, "a reply of 700 frozen dataclasses filled top-down, in a set")


def test_a_tree_part_presetting_a_stand_ins_name_does_not_hang() -> None:
    # 348 bytes: a tree part's keys "workerlib.codec" and "_member" make a STACK_GLOBAL the screen cannot name, so the
    # hashed-size check for Enum values never ran, and looking 40 shared tuples up among SafeUUID's values took
    # 2**40 hash steps.
    payload = hangingTreePart()
    child = decodeInChild("decodePart", payload)
    assertKept(child, "a tree part calling _member from preset keys")


# ---- 2. the depth limit, bypassed ----------------------------------------------------------------------------------


def test_a_list_filled_after_another_holds_it_counts_its_final_depth() -> None:
    # 44 KB made 5,000 levels: depth was recorded when a list was made, never updated once it was filled after a POP.
    child = decodeInChild("decode", listsFilledAfterPop())
    assertKept(child, "5,000 lists, each filled after the one above took it")


def test_a_chain_of_exceptions_filled_top_down_counts_its_final_depth() -> None:
    # 95 KB made a chain of 3,000 exceptions, each given the next through _fill after the one above took it.
    child = decodeInChild("decode", exceptionChain())
    assertKept(child, "a chain of 3,000 exceptions through _fill")


def test_segments_of_an_async_adapter_count_their_own_depth() -> None:
    # 20 KB made 9,800 levels: each segment is under the limit, and its stand-in _segment(n) counts one level.
    child = decodeInChild("decode", segmentChain(), setup=BLOB_SETUP)
    assertKept(child, "20 segments of 490 levels, each holding the next")


def test_a_list_sent_in_parts_counts_its_own_depth() -> None:
    # _joined() counts one level to the screen, whatever the list the parts built holds: 999 levels here.
    part, payload = joinedUnderLists()
    child = decodeInChild("joined", payload, parts=[part])
    assertKept(child, "a list sent in parts, 500 deep, under 499 lists")


def test_an_empty_tuple_counts_as_a_level() -> None:
    # The screen counted () as depth 0: a frozenset of 500 nested tuples around () is 501 levels deep, and passed.
    levels = NESTING_LIMIT
    value: Any = ()
    for _ in range(levels - 1):
        value = (value,)
    assert nesting.depthOf(frozenset({value})) == NESTING_LIMIT + 1, "the payload's value is one level too deep"
    child = decodeInChild("decode", emptyTupleInFrozenset(levels))
    assertKept(child, "a frozenset of 500 nested tuples around ()")


# ---- 3. quadratic hashing ------------------------------------------------------------------------------------------


def test_tuples_of_small_ints_sharing_one_hash_stay_within_the_cpu_bound() -> None:
    # 375 KB of pairs crafted to share one tuple hash: 6.4 s of CPU (0.07 s for as many pairs with distinct hashes).
    child = decodeInChild("decode", tuplesSharingOneHash())
    assertKept(child, "a set of pairs of ints below 2**61 sharing one hash", refused=False)


def test_complexes_sharing_one_hash_stay_within_the_cpu_bound() -> None:
    # complex(-1000003 * k, k) all hash to 0, and complex is not among the numbers the flood limits count.
    child = decodeInChild("decode", complexesSharingOneHash())
    assertKept(child, "a set of complex(-1000003 * k, k)", refused=False)


# ---- 4. amplification ----------------------------------------------------------------------------------------------


def test_references_to_one_out_of_band_buffer_do_not_copy_it_each_time() -> None:
    # 2 KB and one 1 MiB buffer: 315 MB at the peak, a full copy per reference.
    child = decodeInChild("decode", bufferReferences(), buffers=[BUFFER])
    assertKept(child, "300 references to one 1 MiB out-of-band buffer", refused=False)


def test_references_to_one_long_string_do_not_build_a_decimal_each() -> None:
    # 1 MB: a 999,000-digit string, then 600 Decimals of it at 13 bytes each, 420 KB each: 254 MB.
    child = decodeInChild("decode", decimalReferences())
    assertKept(child, "600 Decimals of one memoized 999,000-digit string", refused=False)


def test_references_to_two_big_ints_do_not_cost_a_gcd_each() -> None:
    # Two memoized 65,536-bit ints, then a Fraction of them per 15 bytes: 3.5 ms of gcd each.
    child = decodeInChild("decode", fractionReferences())
    assertKept(child, "500 Fractions of two memoized 65,536-bit ints", refused=False)


def test_the_screen_itself_stays_within_the_memory_bound() -> None:
    # 4 MB of BINGETs of a list that may still grow: the screen made a node and a list for each, 401 MB and 2.9 s.
    child = decodeInChild("decode", screenedReferences())
    assertKept(child, "500,000 references to one growable list", refused=False)
    assert child.report is not None
    screenBound = MEMORY_FIXED + SCREEN_PER_BYTE * child.size
    assert child.report["peak"] <= screenBound, f"allocated {child.report['peak']:,} bytes, past {screenBound:,}"


def test_an_opcode_straddling_its_frames_end_is_refused() -> None:
    # Not in the issue: the grammar-aware fuzz found it (1 KB of payload allocated 1.6 GB).
    child = decodeInChild("decode", straddlingFrame())
    assertKept(child, "a BINBYTES straddling its frame's end")


# ---- 5. object state -----------------------------------------------------------------------------------------------


def test_a_state_cannot_replace_an_instances_dict() -> None:
    # {"__dict__": {...}} went through the C descriptor: the instance's dict replaced wholesale, a method shadowed.
    before = outside()
    payload = dictReplacingState(__name__, "Account")
    result = attempt(lambda: codec.decode(payload), len(payload))
    detail = ""
    if isinstance(result.value, Account):
        detail = f" (its dict: {vars(result.value)!r}, describe is {result.value.describe!r})"
    assert not result.problems(), f"a state replacing __dict__: {'; '.join(result.problems())}{detail}"
    assert not changes(before), changes(before)


def test_notes_sent_as_text_never_make_the_caller_get_a_type_error() -> None:
    # A failure reply whose exception has __notes__ as a str: rebuilding it (which adds the worker's traceback as a
    # note) raised "TypeError: Cannot add note" in the caller instead of the failure.
    before = outside()
    reply = failureReply(notesAsText(), "builtins.ValueError", "boom")
    result = attempt(lambda: codec.runNow(protocol.decodeReply(reply), "decoding a reply"), len(reply))
    assertHeld(result, "a failure reply carrying __notes__ as a str", refused=False)
    if result.error is None:
        ok, failure, _ = result.value
        assert ok is False
        assert isinstance(failure, protocol.RemoteFailure)
        try:
            error = codec.runNow(failure.rebuild("a call"), "rebuilding a failure")
        except Exception as raised:
            pytest.fail(f"rebuilding the failure raised {type(raised).__name__}: {raised}, not the failure")
        assert isinstance(error, Exception)
        notes = getattr(error, "__notes__", None)
        assert isinstance(notes, list), f"the rebuilt {type(error).__name__} has __notes__ {notes!r}"
        assert all(isinstance(note, str) for note in notes)
    assert not changes(before), changes(before)


@pytest.mark.usefixtures("planted")
@pytest.mark.parametrize("how", list(PLANTED))
def test_naming_a_class_runs_none_of_the_apps_lookup_hooks(how: str) -> None:
    # A metaclass's __getattr__ ran on hasattr(cls, "__dataclass_fields__"); a proxy's __getattribute__ on
    # hasattr(found, "__dict__"), whether the proxy is the module itself or an object at module level.
    module, qualname = PLANTED[how]
    before = outside()
    payload = naming(module, qualname)
    TOUCHED.clear()
    result = attempt(lambda: codec.decode(payload), len(payload))
    touched = list(TOUCHED)
    assert not touched, f"naming {module}.{qualname} ran the app's code: {touched}"
    assertHeld(result, f"naming {module}.{qualname}")
    assert not changes(before), changes(before)


@pytest.mark.usefixtures("permCacheRestored")
def test_a_payload_leaves_no_pseudo_members_in_a_flag() -> None:
    # 50,000 combinations of a 16-bit Flag's bits: each made by Flag._missing_ and cached in the class for good.
    values = [value for value in range(3, 2**16) if value & (value - 1)][:50_000]
    payload = flagPseudoMembers(__name__, "Perm", values)
    before = outside()
    cached = dict(Perm._value2member_map_)

    def unchanged() -> None:
        found = changes(before)
        Perm._value2member_map_.clear()  # the second run, measuring memory, must make what the first made
        Perm._value2member_map_.update(cached)
        assert not found, f"{len(payload):,} bytes of Flag values: {found}"

    result = attempt(lambda: codec.decode(payload), len(payload), between=unchanged)
    unchanged()
    assertHeld(result, "50,000 pseudo-members of a Flag", refused=False)
    if result.error is None:
        assert [member.value for member in result.value] == values


def test_no_payload_string_outlives_its_value() -> None:
    # rebuild's attribute-name cache kept the names a payload gave: 4,096 of them, 100 MB of payload strings pinned.
    length = 1_000_000
    name = "a" + os.urandom(8).hex() + "z" * (length - 17)  # unique: no other string of workerlib's is equal to it
    payload = longAttributeName(__name__, "Account", name)
    before = outside()
    gc.collect()
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        start = time.process_time()
        value: Any = None
        error: BaseException | None = None
        try:
            value = codec.decode(payload)
        except Exception as raised:
            error = raised
        cpu = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
        problems = Attempt(value, error, cpu, peak, len(payload)).problems(refused=False)
        error = None  # (its traceback's frames would keep the payload's strings alive)
        pinned = ""
        if value is not None:
            kept = [key for key in vars(value) if len(key) == length]
            if kept:  # the payload's own string object, as the value holds it
                del value
                gc.collect()
                control = "".join(["b", "z" * (length - 1)])  # a fresh string, held by one name
                if sys.getrefcount(kept[0]) > sys.getrefcount(control):
                    holders = [type(holder).__qualname__ for holder in gc.get_referrers(kept[0]) if holder is not kept]
                    pinned = f"; the payload's string is still referred to ({holders or 'by an untracked holder'})"
                del control
                kept.clear()
        value = None
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - held
    finally:
        tracemalloc.stop()
    assert not pinned, f"decoding left {left:,} bytes behind{pinned}"
    assert left < length // 4, f"decoding left {left:,} bytes behind"
    assert not problems, "; ".join(problems)
    assert not changes(before), changes(before)


def test_a_datetime_out_of_range_is_refused() -> None:
    # datetime(65535, 12, 255, 255, 255, 255, 16777215) decoded from a crafted 10-byte state.
    before = outside()
    payload = datetimeOutOfRange()
    result = attempt(lambda: codec.decode(payload), len(payload))
    detail = ""
    if result.error is None and hasattr(result.value, "day"):
        value = result.value
        detail = f": day {value.day}, hour {value.hour}, microsecond {value.microsecond}"
    assert not result.problems(), "a datetime's state out of range: " + "; ".join(result.problems()) + detail
    assert not changes(before), changes(before)


UNICODE_ERROR_AFTER = """
reply = job["reply"]
try:  # the failure as the caller gets it: the worker's exception, a RemoteError, or the reply refused
    ok, failure, _ = codec.runNow(protocol.decodeReply(reply), "decoding a reply")
    error = codec.runNow(failure.rebuild("a call"), "rebuilding a failure")
except workerlib.WorkerlibError as refused:
    error = refused
print("REBUILT", type(error).__qualname__, flush=True)
print("PRINTED", len(str(error)), flush=True)
if value is not None:
    print("PRINTED VALUE", len(str(value)), flush=True)
"""


def test_a_unicode_error_with_fields_out_of_range_is_refused_not_a_crash() -> None:
    # A failure reply's UnicodeDecodeError with start -2**40 was raised on main as itself; printing it segfaulted.
    exception = unicodeErrorOutOfRange()
    reply = failureReply(exception, "builtins.UnicodeDecodeError", "'utf-8' codec can't decode byte 0x61")
    child = decodeInChild("decode", exception, after=f"job['reply'] = {reply!r}\n" + UNICODE_ERROR_AFTER)
    assertKept(child, "a UnicodeDecodeError whose start is -2**40")
    assert "PRINTED" in child.stdout, f"the rebuilt failure was not printed: {child.stdout[-300:]}"
