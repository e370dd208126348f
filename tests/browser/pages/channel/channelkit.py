"""Shared by the channel page's main thread and its workers: message counters on MessagePorts, JS values, describing.

The counters wrap ``MessagePort.prototype`` in the thread that installs them: every ``postMessage`` on a port counts as
one message sent, every event delivered to a port's ``onmessage`` handler as one received. workerlib's channel sets
its handler through ``port.onmessage``, so the wrappers must be in place before a channel is opened. In a worker,
PyScript has ports of its own: :func:`handedPortCounts` reports only the ports the main thread handed over with
workerlib's mark.
"""

import zlib

import js
from pyodide.ffi import JsProxy

from workerlib.workers import PORT_MARK

_COUNTERS_JS = r"""
if (globalThis.channelPageCounters) return globalThis.channelPageCounters;
const stats = new Map();  // port -> {sent, received}; a thread of this page has only a few ports
const handed = [];  // ports that came in a message carrying workerlib's mark, in arrival order
addEventListener("message", (event) => {
  if (event.data && event.data[mark] !== undefined) handed.push(...event.ports);
});
const of = (port) => {
  let found = stats.get(port);
  if (!found) stats.set(port, (found = { sent: 0, received: 0 }));
  return found;
};
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (...args) {
  of(this).sent++;  // counted before posting: an attempt that throws counts too
  return post.apply(this, args);
};
const onmessage = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage");
Object.defineProperty(MessagePort.prototype, "onmessage", {
  configurable: true,
  enumerable: onmessage.enumerable,
  get() { return onmessage.get.call(this); },
  set(handler) {
    const port = this;
    const counted = typeof handler === "function"
      ? function (event) { of(port).received++; return handler.call(this, event); }
      : handler;
    onmessage.set.call(this, counted);
  },
});
const counters = {
  of: (port) => { const found = of(port); return [found.sent, found.received]; },
  handed: () => handed.map((port) => { const found = of(port); return [found.sent, found.received]; }),
};
globalThis.channelPageCounters = counters;
return counters;
"""

_PATTERN_JS = r"""
return (size, seed) => {
  const buffer = new ArrayBuffer(size);
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 255;
  return buffer;
};
"""


def installCounters():
    """Wrap MessagePort.prototype in this thread (once); returns the JS counters object."""
    return js.Function.new("mark", _COUNTERS_JS)(PORT_MARK)


def portCounts(port):
    """``{"sent": n, "received": n}`` messages on one port of this thread."""
    sent, received = installCounters().of(port).to_py()
    return {"sent": sent, "received": received}


def handedPortCounts():
    """In a worker: ``[{"sent": n, "received": n}, ...]``, one entry per port the main thread handed to workerlib."""
    return [{"sent": sent, "received": received} for sent, received in installCounters().handed().to_py()]


def jsValue(source):
    """Evaluate a JavaScript expression in this thread."""
    return js.Function.new(f"return ({source});")()


def pattern(size, seed):
    """A JS ArrayBuffer of ``size`` bytes filled with a pattern that depends on ``seed``."""
    return js.Function.new(_PATTERN_JS)()(size, seed)


def tagOf(value):
    return str(js.Object.prototype.toString.call(value))[8:-1]


def bytesOf(value):
    """The bytes of an ArrayBuffer, typed array or DataView (a view's own window of its buffer)."""
    if tagOf(value) == "ArrayBuffer":
        return bytes(js.Uint8Array.new(value).to_bytes())
    return bytes(js.Uint8Array.new(value.buffer, value.byteOffset, value.byteLength).to_bytes())


def checksum(value):
    """``{"js": tag, "byteLength": n, "crc32": c}`` of an ArrayBuffer or a view."""
    return {"js": tagOf(value), "byteLength": int(value.byteLength), "crc32": zlib.crc32(bytesOf(value))}


VIEWS = {
    "DataView",
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
}


async def describe(value):
    """What a value is, down to its JS objects' types and contents, as JSON-friendly data the same on both sides."""
    if isinstance(value, JsProxy):
        tag = tagOf(value)
        found = {"js": tag, "constructor": str(value.constructor.name)}
        if tag in ("Blob", "File"):
            found.update(type=str(value.type), size=int(value.size), text=str(await value.text()))
            if tag == "File":
                found["name"] = str(value.name)
        elif tag == "ArrayBuffer" or tag in VIEWS:
            found.update(byteLength=int(value.byteLength), bytes=list(bytesOf(value)))
        elif tag == "Array":
            found["items"] = [await describe(item) for item in value]
        elif tag == "Object":
            found["items"] = {
                str(key): await describe(js.Reflect.get(value, key)) for key in js.Object.keys(value).to_py()
            }
        return found
    if isinstance(value, dict):
        return {"py": "dict", "items": {str(key): await describe(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"py": type(value).__name__, "items": [await describe(item) for item in value]}
    return {"py": type(value).__name__, "repr": repr(value)}
