"""The browser's side of a channel: one end of a ``MessageChannel`` (:class:`PortChannel`), the JavaScript it runs,
the JavaScript values that travel beside payloads (:func:`transfer`), and interrupting a sync call in a worker.

Batches cross as ``ArrayBuffer`` objects that are transferred, never cloned. The JavaScript helpers (``_HELPERS_JS``)
do in one call from Python what would otherwise take several. Where the page is cross-origin isolated, a buffer
shared with each worker carries the interrupts and the marks of cancelled requests (:data:`INTERRUPT_SLOTS`).

Apart from :mod:`workerlib.workers` (the handshake and the workers' life) and ``diagnosis``, this is the only
module that touches ``js`` or a ``JsProxy``; it imports them only when a browser function runs, so plain CPython can
import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import codec, protocol
from ._runtime import importBrowserModule
from .channel import Channel
from .errors import ProtocolError
from .protocol import Frame

log = logging.getLogger("workerlib.ports")

# ---- JavaScript values ---------------------------------------------------------------------------------------------


@cache
def _js() -> Any:
    return importBrowserModule("js")


@cache
def _ffi() -> Any:
    return importBrowserModule("pyodide.ffi")


@cache
def _helpers() -> Any:
    """JavaScript functions for the hot paths: one call from Python each, instead of several."""
    return _js().Function.new(_HELPERS_JS)()


_HELPERS_JS = r"""
const tagOf = (value) => Object.prototype.toString.call(value).slice(8, -1);
const leaves = new Set([
  "ArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
  "Blob", "File", "FileList", "ImageBitmap", "ImageData", "Date", "RegExp", "Boolean", "Number", "String", "BigInt",
  "Error", "DOMException", "CryptoKey", "DOMMatrix", "DOMPoint", "DOMRect",
]);
// These can only be moved, never copied: fine when transfer() marks them, a failed postMessage otherwise.
const movableOnly = new Set(["MessagePort", "OffscreenCanvas"]);
// Why structured clone would refuse (or silently mangle) a value: "<path>\t<what>", or undefined when it can copy it.
// (Functions called from Python return undefined, never null: Pyodide turns null into a JsNull object, not None.)
const isDetached = (buffer) => {
  if (typeof buffer.detached === "boolean") return buffer.detached;
  try {
    new Uint8Array(buffer, 0, 0);  // throws for a detached buffer where .detached is not known
    return false;
  } catch {
    return true;
  }
};
const cloneProblem = (root, moving) => {
  const seen = new Set();
  const visit = (value, path) => {
    const kind = typeof value;
    if (kind === "function") return `${path}\ta JavaScript function`;
    if (kind === "symbol") return `${path}\ta JavaScript symbol`;
    if (value === null || kind !== "object" || seen.has(value)) return null;
    seen.add(value);
    const tag = tagOf(value);
    const buffer = tag === "ArrayBuffer" ? value : ArrayBuffer.isView(value) ? value.buffer : null;
    if (buffer !== null && isDetached(buffer)) {
      return `${path}\ta detached ArrayBuffer (its contents were moved away by an earlier transfer())`;
    }
    if (tag === "Array") {
      for (let i = 0; i < value.length; i++) {
        const found = visit(value[i], `${path}[${i}]`);
        if (found) return found;
      }
      return null;
    }
    if (tag === "Map" || tag === "Set") {
      let i = 0;
      for (const entry of value) {
        const found = visit(entry, `${path}<entry ${i++}>`);
        if (found) return found;
      }
      return null;
    }
    if (tag === "Object") {
      const proto = Object.getPrototypeOf(value);
      if (proto !== null && proto !== Object.prototype) {
        const name = proto.constructor && proto.constructor.name;
        return `${path}\tan instance of the class ${name || "(anonymous)"} (structured clone would drop its class)`;
      }
      for (const key of Object.keys(value)) {
        const found = visit(value[key], `${path}.${key}`);
        if (found) return found;
      }
      return null;
    }
    if (movableOnly.has(tag) && !moving.includes(value)) {
      return `${path}\ta JavaScript ${tag}, which can only be moved (wrap it in workerlib.transfer())`;
    }
    return leaves.has(tag) || movableOnly.has(tag) ? null : `${path}\ta JavaScript ${tag}`;
  };
  return visit(root, "") ?? undefined;
};
const transferableOf = (value) => {
  const tag = tagOf(value);
  if (tag === "ArrayBuffer" || tag === "MessagePort" || tag === "ImageBitmap" || tag === "OffscreenCanvas") {
    return value;
  }
  return ArrayBuffer.isView(value) ? value.buffer : undefined;
};
const postBatch = (port, data) => port.postMessage(data.buffer, [data.buffer]);
const postParts = (port, parts, attached, transfer) => {
  const moved = new Set(parts.map((part) => part.buffer));
  for (const item of transfer) moved.add(item);
  port.postMessage([parts[0].buffer, attached, ...parts.slice(1).map((part) => part.buffer)], [...moved]);
};
const FATAL = "workerlib-fatal";
// What a thread whose Python died tells the other end, from JavaScript, which still runs.
const tellDeath = (port, error) => {
  try {
    port.postMessage({ [FATAL]: String(error && error.message || error) });
  } catch {}
};
const listen = (port, handler, died) => {
  const call = (data, attached, separate) => {
    // The handler catches everything itself: an error here means this thread's Python interpreter is gone.
    try {
      handler(data, attached, separate);
    } catch (error) {
      tellDeath(port, error);
    }
  };
  port.onmessage = (event) => {
    const data = event.data;
    // Checked here, where it costs nothing; anything else reaches Python as undefined (None), never as null, which
    // Pyodide turns into a JsNull object.
    if (data instanceof ArrayBuffer) call(data, undefined, undefined);
    else if (
      Array.isArray(data) && data.length >= 2 && (data[1] == null || Array.isArray(data[1]))
      && data.every((part, i) => i === 1 || part instanceof ArrayBuffer)
    ) {
      call(data[0], data[1] ?? undefined, data.slice(2));
    } else if (data && typeof data === "object" && typeof data[FATAL] === "string") {
      try {
        died(data[FATAL]);
      } catch {}
    } else call(undefined, undefined, undefined);
  };
};
// Pyodide calls api.on_fatal when its interpreter dies (a C stack overflow, an abort): every port hears of it at
// once, so calls pending on the other end fail then, not at their deadline.
const fatalPorts = [];
const reportDeath = (api, port) => {
  fatalPorts.push(port);
  if (fatalPorts.length > 1 || !api) return;
  const previous = api.on_fatal;
  api.on_fatal = (error) => {
    for (const each of fatalPorts) tellDeath(each, error);
    if (typeof previous === "function") previous(error);
  };
};
// Pyodide's event loop runs call_soon callbacks through scheduler.postTask where the browser has it: a task posted
// the same way runs after every callback already queued, so frames sent in this turn are all in the batch.
const scheduleFlush = globalThis.scheduler?.postTask ? (flush) => { scheduler.postTask(flush); } : undefined;
// The interrupt buffer (Int32Array, see INTERRUPT_SLOTS): [0] is Pyodide's (a signal number to raise), [1] the
// request a worker runs as sync code (negative once the main thread asked to interrupt it), [2] where the next mark
// goes, [3] how many marks are live, [4...] marks: requests the main thread cancelled, which the worker must not start.
const MARKS = 4;
// Main thread, cancelling a request: mark it first, so the worker never starts it once the mark is there.
const markCancelled = (shared, slot) => {
  const at = MARKS + (Atomics.add(shared, 2, 1) >>> 0) % (shared.length - MARKS);
  if (Atomics.exchange(shared, at, slot) === 0) Atomics.add(shared, 3, 1);  // else an older mark made way
};
// Interrupt only the request running now: asked of [1] and changed in one atomic step, so a request that just ended
// is never interrupted in its successor's place.
const interrupt = (shared, slot) => {
  if (Atomics.compareExchange(shared, 1, slot, -slot) === slot) Atomics.store(shared, 0, 2);
};
// Worker: whether the request was marked cancelled; the mark is taken away.
const takeMark = (shared, slot) => {
  if (Atomics.load(shared, 3) === 0) return false;
  for (let at = MARKS; at < shared.length; at++) {
    if (shared[at] === slot && Atomics.compareExchange(shared, at, slot, 0) === slot) {
      Atomics.sub(shared, 3, 1);
      return true;
    }
  }
  return false;
};
const enterSync = (shared, slot) => { Atomics.store(shared, 1, slot); };
const leaveSync = (shared) => { Atomics.store(shared, 1, 0); };
const interruptWanted = (shared) => Atomics.load(shared, 1) < 0;
return {
  tagOf, cloneProblem, transferableOf, postBatch, postParts, listen, reportDeath, scheduleFlush,
  markCancelled, interrupt, takeMark, enterSync, leaveSync, interruptWanted,
};
"""


def _isJsProxy(obj: object) -> bool:
    return isinstance(obj, _ffi().JsProxy)


def jsTypeName(value: Any) -> str:
    """The JavaScript type of a ``JsProxy``'s object, as ``Object.prototype.toString`` tells it: ``Uint8Array``."""
    return str(_helpers().tagOf(value))


@dataclass(frozen=True)
class Transfer:
    """A JavaScript object marked by :func:`transfer` to be moved to the other thread rather than copied."""

    value: Any
    """What arrives on the other side (a ``JsProxy``)."""
    transferable: Any
    """What is moved: the object itself, or a typed array's ``ArrayBuffer``."""

    def __repr__(self) -> str:
        value, moved = _kindOf(self.value), _kindOf(self.transferable)
        # An ArrayBuffer moves itself; a typed array or DataView moves its buffer (two proxies of it are not `is`).
        if self.value is self.transferable or value == moved:
            return f"<Transfer: the {value} moves>"
        return f"<Transfer: {value}, its {moved} moves>"


def _kindOf(value: Any) -> str:
    """What a value is, for a repr: the JavaScript type of a ``JsProxy``'s object, else the Python type's name."""
    if _isJsProxyAnywhere(value):
        try:
            return jsTypeName(value)
        except Exception:  # a repr must not raise: the JavaScript side may be gone
            return "JavaScript object"
    return type(value).__qualname__


def transfer(value: Any) -> Transfer:
    """Mark a JavaScript object to be moved to the other thread rather than copied, as Comlink's ``transfer`` does.

    ``value`` is a ``JsProxy`` of an ``ArrayBuffer``, a typed array or ``DataView`` (its whole buffer moves), a
    ``MessagePort``, an ``ImageBitmap`` or an ``OffscreenCanvas``. Put the result where the value would go, at any
    depth of a call's arguments or of a method's result: ``await client.process(transfer(buffer))``. The other side
    gets ``value`` (a ``JsProxy`` of the same JavaScript type); on this side a moved ``ArrayBuffer`` is detached
    (``byteLength`` 0) once the call is sent. Python ``bytes`` need no marking: payloads always move.
    """
    if not _isJsProxyAnywhere(value):
        raise TypeError(
            f"transfer() moves JavaScript objects (ArrayBuffer, typed arrays, DataView, MessagePort, ImageBitmap, "
            f"OffscreenCanvas), got {type(value).__qualname__}; Python values such as bytes travel without it"
        )
    transferable = _helpers().transferableOf(value)
    if transferable is None:
        raise TypeError(
            f"transfer() cannot move a JavaScript {jsTypeName(value)}; it moves ArrayBuffer, typed arrays, DataView, "
            f"MessagePort, ImageBitmap and OffscreenCanvas (other values are copied without transfer())"
        )
    return Transfer(value, transferable)


def _isJsProxyAnywhere(value: object) -> bool:
    # Only a Pyodide interpreter has JsProxy objects; elsewhere pyodide.ffi cannot even be imported.
    return sys.platform == "emscripten" and _isJsProxy(value)


def _checkCloneable(value: Any, moving: Any) -> None:
    problem = _helpers().cloneProblem(value, _ffi().to_js([] if moving is None else [moving]))
    if problem is None:
        return
    path, what = str(problem).split("\t", 1)
    advice = "send ArrayBuffer, typed arrays, DataView, Blob, File, ImageBitmap, plain objects and arrays of such"
    if path:
        raise TypeError(
            f"cannot send this JavaScript {jsTypeName(value)}: {path.lstrip('.')} is {what}, which structured clone "
            f"cannot carry to another thread as it is; {advice}"
        )
    raise TypeError(f"cannot send {what}: structured clone cannot carry it to another thread as it is; {advice}")


class CollectAttached:
    """The values one payload carries beside it, and which of them move rather than copy."""

    def __init__(self, accepts: Callable[[object], bool], check: Callable[[Any, Any], None] | None = None) -> None:
        self._accepts = accepts
        self._check = check
        self.values: list[Any] = []
        self.transfer: list[Any] = []

    def accepts(self, obj: object) -> bool:
        return self._accepts(obj)

    def attach(self, obj: object) -> int:
        moving = None
        if isinstance(obj, Transfer):
            value, moving = obj.value, obj.transferable
        else:
            value = obj
        if self._check is not None:
            self._check(value, moving)
        if moving is not None:
            self.transfer.append(moving)
        self.values.append(value)
        return len(self.values) - 1


# ---- browser channel -----------------------------------------------------------------------------------------------


class PortChannel(Channel):
    """One end of a ``MessageChannel``; ``JsProxy`` values (and :func:`transfer` marks) travel beside payloads."""

    def __init__(self, port: Any, name: str, interrupts: Any = None) -> None:
        super().__init__(name)
        self.port = port
        self.interrupts = interrupts
        """The shared ``Int32Array`` of :func:`interruptSlot` (cross-origin isolated pages only), else ``None``."""
        self._interrupting: list[int] = []
        helpers = _helpers()
        self._postBatch = helpers.postBatch
        self._postParts = helpers.postParts
        self._handler = _ffi().create_proxy(self._onMessage)
        self._died = _ffi().create_proxy(self._peerDied)
        helpers.listen(port, self._handler, self._died)
        # Scheduling the turn's end straight from JavaScript with one lasting proxy saves making a once-callable and
        # an asyncio handle per turn (a quarter of a small call's time on the main thread, measured).
        self._endTurnProxy = _ffi().create_proxy(self._endTurn)
        self._schedule = helpers.scheduleFlush

    def attachments(self) -> codec.Attachments | None:
        return CollectAttached(_isAttachable, _checkCloneable)

    def _scheduleEndTurn(self) -> None:
        if self._schedule is None:
            super()._scheduleEndTurn()
        else:
            self._schedule(self._endTurnProxy)

    def send(self, frame: Frame) -> None:
        if frame.buffers:
            # Copied into JavaScript now, not when the batch leaves: a bytearray changed later in this turn of the
            # loop must not change what this call sends.
            toJs = _ffi().to_js
            frame.buffers = [
                buffer if _isJsProxy(buffer) else toJs(memoryview(buffer).cast("B")) for buffer in frame.buffers
            ]
        super().send(frame)

    @property
    def canInterrupt(self) -> bool:
        return self.interrupts is not None

    def interrupt(self, ident: int) -> None:
        if self.interrupts is None:
            return
        slot = interruptSlot(ident)
        _helpers().markCancelled(self.interrupts, slot)
        self._interrupting.append(slot)
        if len(self._interrupting) == 1:
            # A turn later: the other calls cancelled in this turn are marked before the running one stops.
            asyncio.get_event_loop().call_soon(self._fireInterrupts)

    def _fireInterrupts(self) -> None:
        slots, self._interrupting = self._interrupting, []
        if self.interrupts is not None and not self.closed:
            interrupt = _helpers().interrupt
            for slot in slots:
                interrupt(self.interrupts, slot)

    def wasCancelled(self, ident: int) -> bool:
        if self.interrupts is None:
            return False
        return bool(_helpers().takeMark(self.interrupts, interruptSlot(ident)))

    def interruptible(self, ident: int) -> contextlib.AbstractContextManager[Any]:
        if self.interrupts is None:
            return contextlib.nullcontext()
        return _Interruptible(self.interrupts, interruptSlot(ident))

    def _post(self, batch: protocol.Batch) -> None:
        toJs = _ffi().to_js
        if not batch.separate and not batch.attached and not batch.transfer:
            # to_js copies the bytes out of the Wasm heap into a Uint8Array with a buffer of its own, which moves.
            self._postBatch(self.port, toJs(memoryview(batch.data)))
            return
        parts = toJs(
            [part if _isJsProxy(part) else toJs(memoryview(part).cast("B")) for part in [batch.data, *batch.separate]]
        )
        attached = toJs(batch.attached) if batch.attached else None
        self._postParts(self.port, parts, attached, toJs(batch.transfer))

    def _onMessage(self, data: Any, attached: Any, separate: Any) -> None:
        if data is None:  # see listen() in the helpers: only a batch's ArrayBuffers get through
            self.onMalformed(ProtocolError("received a message that is not a workerlib batch"), [])
            return
        try:
            parts = [part.to_bytes() for part in separate] if separate is not None else []
            values = list(attached) if attached is not None else []
            batch = data.to_bytes()
        except Exception as error:  # whatever arrived, nothing escapes into the browser's event handler
            self.onMalformed(ProtocolError(f"received a message workerlib cannot read: {error}"), [])
            return
        self._receive(batch, parts, values)

    def _peerDied(self, reason: Any) -> None:
        self.onPeerDied(str(reason))

    def close(self) -> None:
        if not self.closed:
            super().close()
            with contextlib.suppress(Exception):
                self.port.close()
            for proxy in (self._handler, self._endTurnProxy, self._died):
                with contextlib.suppress(Exception):
                    proxy.destroy()


INTERRUPT_SLOTS = 4 + 4096
"""Int32 slots in the buffer a cross-origin isolated page shares with each worker: Pyodide's signal slot, the request
running as sync code, two counters, and room for 4096 marks of requests cancelled whose ``CANCEL`` frame the worker
has not read yet (beyond that, the oldest marks make way, and those requests are dropped only by their frame)."""


def interruptSlot(ident: int) -> int:
    """Request ``ident`` as the interrupt buffer holds it: a positive 31-bit number."""
    return ident % 0x7FFFFFFF or 0x7FFFFFFF


class _Interruptible:
    """Marks sync code run for one request in the interrupt buffer, so the main thread may interrupt it."""

    def __init__(self, shared: Any, slot: int) -> None:
        self.shared = shared
        self.slot = slot

    def __enter__(self) -> None:
        _helpers().enterSync(self.shared, self.slot)

    def __exit__(self, *exc: object) -> None:
        _helpers().leaveSync(self.shared)
        _deferred.disarm()  # an interrupt that came as the call ended must not hit what runs next


_interruptBuffer: list[Any] = []  # the one this worker's Pyodide watches, once the main thread sent it


def _watchInterrupts(shared: Any) -> None:
    """Worker: let Pyodide watch ``shared``, and turn its SIGINT into ``KeyboardInterrupt`` only when asked to.

    Pyodide runs the handler in whatever Python code runs when it looks; the handler checks that the request marked
    running is the one the main thread asked to interrupt, so a late interrupt never hits the next request.

    Where the interpreter looked from a backward jump (the check a loop makes), the exception is not raised there but
    at the start of the next line (:class:`_DeferredInterrupt`): CPython 3.14 compiles some loops with a backward
    jump that its exception table does not cover (3.13 others), and an exception raised there leaves the function
    without running its ``except`` and ``finally`` blocks (``tools/repro/interrupt_handlers_314``). Anywhere else
    (a C function such as ``time.sleep`` that checks for signals, a call's start) it is raised at once.
    """
    import signal

    importBrowserModule("pyodide_js").setInterruptBuffer(shared)
    _interruptBuffer[:] = [shared]

    def onInterrupt(signum: int, frame: Any) -> None:
        if not (_interruptBuffer and _helpers().interruptWanted(_interruptBuffer[0])):
            return
        if frame is not None and frame.f_code is _EXIT_CODE:
            return  # the call is ending: leaving its guard must not fail
        if frame is not None and _atBackwardJump(frame) and _deferred.arm():
            return
        raise KeyboardInterrupt("the main thread cancelled this call")

    signal.signal(signal.SIGINT, onInterrupt)


_EXIT_CODE = _Interruptible.__exit__.__code__


@cache
def _backwardJumps() -> frozenset[int]:
    import dis

    return frozenset(dis.opmap[name] for name in ("JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT") if name in dis.opmap)


def _atBackwardJump(frame: Any) -> bool:
    """Whether ``frame`` stands at a backward jump (``co_code`` holds the instructions unspecialized)."""
    code = frame.f_code.co_code
    return 0 <= frame.f_lasti < len(code) and code[frame.f_lasti] in _backwardJumps()


class _DeferredInterrupt:
    """Raises ``KeyboardInterrupt`` at the start of the next line Python runs, through ``sys.monitoring`` LINE events.

    A tool id is taken only while armed (the first free one, 4 and 3 first: PEP 669 assigns neither) and freed with
    its callback and events as soon as the event fired or the interrupted call ended, so no id is held between calls
    and no other tool's events or callbacks are touched. Without a free id, :meth:`arm` says so and the caller raises
    at once, as before.
    """

    ORDER = (4, 3, 5, 2, 1, 0)

    def __init__(self) -> None:
        self.tool: int | None = None

    def arm(self) -> bool:
        if self.tool is not None:
            return True
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is None:
            return False
        for tool in self.ORDER:
            try:
                monitoring.use_tool_id(tool, "workerlib interrupt")
            except ValueError:  # in use
                continue
            self.tool = tool
            try:
                monitoring.register_callback(tool, monitoring.events.LINE, self._onLine)
                monitoring.set_events(tool, monitoring.events.LINE)
            except BaseException:
                self.disarm()
                return False
            return True
        return False

    def disarm(self) -> None:
        tool, self.tool = self.tool, None
        if tool is None:
            return
        monitoring = sys.monitoring
        with contextlib.suppress(ValueError):
            monitoring.set_events(tool, 0)
            monitoring.register_callback(tool, monitoring.events.LINE, None)
            monitoring.free_tool_id(tool)

    def _onLine(self, code: Any, line: int) -> None:
        if code.co_filename == __file__:
            return  # this module's own lines: the rest of the signal handler, or the guard the call leaves by
        self.disarm()
        if _interruptBuffer and _helpers().interruptWanted(_interruptBuffer[0]):
            raise KeyboardInterrupt("the main thread cancelled this call")


_deferred = _DeferredInterrupt()


def interruptsAvailable() -> bool:
    """Main thread: whether cancelling a running sync method can interrupt it (the page is cross-origin isolated)."""
    return bool(getattr(_js(), "crossOriginIsolated", False)) and hasattr(_js(), "SharedArrayBuffer")


def _isAttachable(obj: object) -> bool:
    # Asked of every object the pickler cannot handle itself (each adapted object, each dataclass...): answered once
    # per type.
    kind = type(obj)
    known = _attachableTypes.get(kind)
    if known is None:
        known = _attachableTypes[kind] = issubclass(kind, Transfer) or issubclass(kind, _ffi().JsProxy)
    return known


_attachableTypes: dict[type, bool] = {}
