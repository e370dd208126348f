"""Worker of the hostile page: pathological methods, and a liar that answers one call with crafted bytes.

Imported by the main thread too (for the ``Hostile`` client), where it serves nothing.
"""

import inspect
import pickletools
import struct
from collections.abc import Sequence
from decimal import Decimal

import attackpayloads
import stackops
from hostile_shared import Color, ImageTooSmallError, LimitExceededError

from workerlib import WorkerService, codec, protocol

KILL_DEPTH = 1_000_000
"""Hashing a tuple this deep overflows Pyodide's stack in a worker on both releases (tools/stackprobe.py)."""
DEEP_FROZENSET = 200_000
BINBYTES8_CLAIM = 3 << 30
"""Bytes a crafted BINBYTES8 claims to carry: 3 GB, in a payload of a few dozen bytes."""
BINBYTES8_WASM_CLAIM = 0x7000_0000
"""1.75 GiB: under what a 32-bit Wasm build can allocate (3 GB fails there with OverflowError before allocating)."""
MEMO_INDEX = 1 << 26
"""A LONG_BINPUT at this index makes an unpickler grow its memo table to 2**27 slots: 512 MB in 32-bit Wasm."""
EXEC_MARK = "hostilePwned"
"""A crafted payload that ran code would set this global on the receiving thread's JavaScript side."""


class Hostile(WorkerService):
    def __init__(self) -> None:
        self.served = 0

    def ping(self) -> int:
        self.served += 1
        return self.served

    def deepList(self, depth: int) -> list:
        return stackops.nestedList(depth)

    def depthOf(self, value: object) -> list:
        """``[depth, leaf]`` of a value received as an argument."""
        return list(stackops.depthOf(value))

    def raiseDeep(self, depth: int) -> None:
        raise ValueError(stackops.nestedList(depth))

    def raiseBase(self, name: str) -> None:
        raise {"SystemExit": SystemExit(3), "KeyboardInterrupt": KeyboardInterrupt(), "GeneratorExit": GeneratorExit()}[
            name
        ]

    def raiseImageTooSmall(self, image: str, minimum: int) -> None:
        raise ImageTooSmallError(image, minimum)

    def raiseLimitExceeded(self, field: str, limit: int) -> None:
        raise LimitExceededError(field=field, limit=limit)

    def killInterpreter(self) -> int:
        # A genuine Pyodide fatal error: tuple hashing recurses in C with no depth check; the stack overflows.
        return hash(stackops.nestedTuple(KILL_DEPTH))

    def margin(self, depth: int) -> dict:
        """Every stack operation of ``stackops`` at ``depth``, here in the worker, inside workerlib's dispatcher."""
        return {name: stackops.attempt(name, depth) for name in stackops.OPERATIONS}

    def lie(self, kind: str) -> list[str]:
        """Answer this very call with the crafted reply ``kind`` instead of the honest one (and the parts it sends
        ahead of it, if any). The honest answer is a list, so the server hands its encoder a ``Beside`` with the
        parts' sender in it."""
        if kind in attackpayloads.REPLIES:
            sent = attackpayloads.crafted(kind, member=(Color.__module__, Color.__qualname__))
            lieOnce(sent.reply, sent.parts)
        else:
            lieOnce(craftedReply(kind))
        return ["the honest answer"]


# ---- crafted replies -----------------------------------------------------------------------------------------------

PROTO, FRAME, STOP, MARK = b"\x80", b"\x95", b".", b"("
NEWTRUE, NONE, TUPLE1, TUPLE3, EMPTY_TUPLE = b"\x88", b"N", b"\x85", b"\x87", b")"
FROZENSET, BINBYTES8, STACK_GLOBAL, REDUCE = b"\x91", b"\x8e", b"\x93", b"R"
EMPTY_DICT, SETITEMS, BUILD, BINUNICODE, LONG_BINPUT = b"}", b"u", b"b", b"X", b"r"


def text(value: str) -> bytes:
    data = value.encode()
    return BINUNICODE + struct.pack("<I", len(data)) + data


def reply(*body: bytes) -> bytes:
    """A reply in the shape ``(True, <body>, None)``: only what ``body`` pushes is hostile."""
    return PROTO + b"\x05" + NEWTRUE + b"".join(body) + NONE + TUPLE3 + STOP


def opcodesOf(value: object, memoBefore: int) -> tuple[bytes, int]:
    """The opcodes with which this thread's own codec pushes ``value``, to splice into a crafted payload: without
    PROTO, FRAME and STOP, memo references shifted past the ``memoBefore`` entries the payload memoized before them;
    and how many memo entries they add. Whatever format the codec writes (as long as it is a pickle), a member
    arrives on the stack the way the decoder expects it, so the attack reaches BUILD."""
    payload = codec.encode(value)
    ops = list(pickletools.genops(payload))
    ends = [position for _, _, position in ops[1:]] + [len(payload)]
    out, memoized = bytearray(), 0
    for (op, arg, position), end in zip(ops, ends, strict=True):
        raw = payload[position:end]
        if op.name in ("PROTO", "FRAME", "STOP"):
            continue
        if op.name in ("BINGET", "LONG_BINGET"):
            raw = b"j" + struct.pack("<I", arg + memoBefore)  # LONG_BINGET
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            raw = LONG_BINPUT + struct.pack("<I", arg + memoBefore)
            memoized = max(memoized, arg + 1)
        elif op.name == "MEMOIZE":
            memoized += 1
        out += raw
    return bytes(out), memoized


def buildOnMember(state: dict) -> bytes:
    """BUILD on ``Color.RED``: the state is applied to the member, shared by the whole receiving thread."""
    member, memoized = opcodesOf(Color.RED, 0)
    stateOps, _ = opcodesOf(state, memoized)
    return reply(member, stateOps, BUILD)


def craftedReply(kind: str) -> bytes:
    if kind == "stackGlobalOsSystem":
        return reply(text("os"), text("system"), STACK_GLOBAL, text("true"), TUPLE1, REDUCE)
    if kind == "stackGlobalExec":
        code = f"import js; js.globalThis.{EXEC_MARK} = 'a crafted reply ran code on this thread'"
        return reply(text("builtins"), text("exec"), STACK_GLOBAL, text(code), TUPLE1, REDUCE)
    if kind == "enumBuild":
        return buildOnMember({"_value_": 99, "_name_": "BLUE", "hacked": True})
    if kind == "enumBuildEqual":
        return buildOnMember({"_value_": True})  # True == 1: a before/after comparison sees no change
    if kind == "enumBuildSNaN":
        return buildOnMember({"_value_": Decimal("sNaN")})  # comparing it raises InvalidOperation
    if kind == "binbytes8":
        return reply(BINBYTES8, struct.pack("<Q", BINBYTES8_CLAIM), b"\x00" * 16)
    if kind == "binbytes8Below2GB":
        return reply(BINBYTES8, struct.pack("<Q", BINBYTES8_WASM_CLAIM), b"\x00" * 16)
    if kind == "longBinput":
        return reply(NONE, LONG_BINPUT, struct.pack("<I", MEMO_INDEX))  # a valid reply, bar the memo index
    if kind == "deepFrozenset":
        return reply(MARK, EMPTY_TUPLE, TUPLE1 * DEEP_FROZENSET, FROZENSET)
    raise ValueError(f"no crafted reply {kind!r}")


CRAFTED = (
    "stackGlobalOsSystem",
    "stackGlobalExec",
    "enumBuild",
    "enumBuildEqual",
    "enumBuildSNaN",
    "hangingReply",
    "emptyTupleInFrozenset",
    "exceptionChain",
    "tuplesSharingOneHash",
    "binbytes8",
    "longBinput",
    "straddlingFrame",
    "binbytes8Below2GB",
    "listsFilledAfterPop",
    "unicodeErrorOutOfRange",
    "crashingReply",
    "deepFrozenset",
    "hangingTreePart",
)
"""In the order the page sends them: those of ``craftedReply`` and those of ``attackpayloads.REPLIES`` (issue 20's).
Those an unprotected decoder survives first; then those that grow the heap (which never shrinks), the largest last
of them; then those that kill an unprotected decoder's interpreter (a deep value's ``repr``, printing a bad
``UnicodeDecodeError``, hashing), whose watchdog still reports what came before; and the one that hangs it (2**40
hash steps decoding a part) last of all, since a hang stops the watchdog too."""


def lieOnce(crafted: bytes, parts: Sequence[bytes] = ()) -> None:
    """Make the next reply this worker encodes ``crafted``, by replacing ``workerlib.protocol.encodeReply`` (and the
    server's own name for it, if it has one) for one call; ``parts`` are sent ahead of it as ``PART`` frames, through
    the ``sendPart`` the server hands ``encodeReply`` (in its ``Beside``) for a long list."""
    import workerlib.server as server

    original = protocol.encodeReply
    patched = [module for module in (protocol, server) if getattr(module, "encodeReply", None) is original]
    plain = protocol.encodePlainReply

    def restore() -> None:
        for module in patched:
            module.encodeReply = original
        protocol.encodePlainReply = plain

    def sendParts(args, kwargs):
        # encodeReply(ok, value, stamps, beside): the parts' sender travels in what goes beside the reply.
        beside = kwargs.get("beside", args[3] if len(args) > 3 else None)
        sendPart = getattr(beside, "sendPart", None)
        if parts and sendPart is None:
            raise RuntimeError("encodeReply was given no sendPart: the parts cannot go ahead of the reply")
        for part in parts:
            if not sendPart(part):
                raise RuntimeError("sendPart refused a part")

    if inspect.iscoroutinefunction(original):

        async def lying(*args, **kwargs):
            restore()
            sendParts(args, kwargs)
            return crafted

    else:

        def lying(*args, **kwargs):
            restore()
            sendParts(args, kwargs)
            return crafted

    for module in patched:
        module.encodeReply = lying
    # The lean path writes a plain result itself: for this call, every result takes encodeReply.
    protocol.encodePlainReply = lambda value, stamps: None
