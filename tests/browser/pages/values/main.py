"""Main thread of the values page (issue 4, "values cross intact"): every type as argument, keyword argument, return
value and round trip; shared references and cycles; sync adapters, their order and the shadowing warning; the errors;
crafted payloads handed straight to the worker's dispatcher; large data. Each check records its outcome, so one
failure does not hide the others.
"""

import collections
import hashlib
import inspect
import pickle
import time

import pagekit
import values_main_only  # noqa: F401 - registers Token's adapter, on this side only
import values_shared
from pagecheck import compared, fact, now, outcome
from values_shared import (
    CALLS,
    LARGE_NAMES,
    Animal,
    Celsius,
    Checked,
    Circle,
    Dog,
    Mood,
    Opaque,
    Pair,
    Point,
    Segment,
    Shape,
    Square,
    Stamp,
    Tag,
    Token,
    UserId,
    ValueService,
    Vector,
    catalog,
    large,
    largeDifference,
    sharedStructures,
)

from workerlib import protocol

values_shared.SIDE = "main"
results = {}
service = await ValueService.connect()  # noqa: F704 - PyScript runs main scripts with top-level await

# ---- every type, four ways ---------------------------------------------------------------------------------------

results["names"] = list(catalog())
types = results["types"] = {}
for name, value in catalog().items():
    types[name] = {
        "argument": await outcome(service.check(name, value)),  # noqa: F704
        "keyword": await outcome(service.check(name, value=value)),  # noqa: F704
        "returned": await compared(catalog()[name], service.make(name)),  # noqa: F704
        "echo": await compared(value, service.echo(value)),  # noqa: F704
    }
results["wholeCatalog"] = {
    "returned": await compared(catalog(), service.makeAll()),  # noqa: F704
    "echo": await compared(catalog(), service.echo(catalog())),  # noqa: F704
}
view = memoryview(b"\x00view\xff")
results["memoryview"] = {
    "workerTypes": await outcome(service.typeNames(view, keyword=view[1:5])),  # noqa: F704
    "echo": await compared(b"\x00view\xff", service.echo(view)),  # noqa: F704
    "nested": await compared({"v": [b"view"]}, service.echo({"v": [view[1:5]]})),  # noqa: F704
}

# ---- shared references and cycles --------------------------------------------------------------------------------

structures = sharedStructures()
shared, cycle, record = structures["pair"][0], structures["cycle"], structures["dict-cycle"]
node, vector = structures["dataclass-cycle"], structures["adapted-pair"][0]
sharedArguments = {}
for kind, data in structures.items():
    sharedArguments[kind] = await outcome(service.sharing((kind, data)))  # noqa: F704
results["sharing"] = {
    "argument": sharedArguments,
    "acrossArguments": await fact(  # noqa: F704
        service.echoAll(shared, shared, again=shared), lambda back: back[0][0] is back[0][1] is back[1]["again"]
    ),
    "echo": {
        "pair": await fact(service.echo([shared, shared]), lambda b: b[0] is b[1] and b[0] == [1]),  # noqa: F704
        "cycle": await fact(service.echo(cycle), lambda b: type(b) is list and len(b) == 1 and b[0] is b),  # noqa: F704
        "dict-cycle": await fact(service.echo(record), lambda b: b["self"] is b),  # noqa: F704
        "dataclass-cycle": await fact(service.echo(node), lambda b: type(b) is Point and b.y is b),  # noqa: F704
        "adapted-pair": await fact(  # noqa: F704
            service.echo([vector, vector]), lambda b: b[0] is b[1] and b[0] == Vector(1, 2)
        ),
    },
    "returned": await fact(  # noqa: F704
        service.makeShared(),
        lambda b: (
            b["pair"][0] is b["pair"][1]
            and b["cycle"][0] is b["cycle"]
            and b["dict-cycle"]["self"] is b["dict-cycle"]
            and b["dataclass-cycle"].y is b["dataclass-cycle"]
            and b["adapted-pair"][0] is b["adapted-pair"][1]
        ),
    ),
}

# ---- sync adapters -----------------------------------------------------------------------------------------------


async def adapted(value, expected=None):
    """Round-trip ``value``; report the result and which adapter functions ran on each side during the trip."""
    expected = value if expected is None else expected
    mainBefore = collections.Counter(CALLS)
    workerBefore = await outcome(service.calls())
    entry = {"echo": await compared(expected, service.echo(value))}
    workerAfter = await outcome(service.calls())
    entry["mainCalls"] = dict(collections.Counter(CALLS) - mainBefore)
    if "value" in workerBefore and "value" in workerAfter:
        entry["workerCalls"] = dict(
            collections.Counter(workerAfter["value"]) - collections.Counter(workerBefore["value"])
        )
    else:
        entry["workerCalls"] = {"error": [workerBefore, workerAfter]}
    entry["workerTypes"] = await outcome(service.typeNames(value))
    return entry


segment = Segment(Vector(0, 0), Vector(3, 4), Point(1.0, 2.0))
results["adapters"] = {
    "vector": await adapted(Vector(1, 2)),  # noqa: F704
    "segment": await adapted(segment),  # noqa: F704
    "stamp": await adapted(Stamp(5)),  # noqa: F704
    "mood": await adapted(Mood.GRUMPY),  # noqa: F704
    "userId": await adapted(UserId(42)),  # noqa: F704
    "tag": await adapted(Tag("label")),  # noqa: F704
    "celsius": await adapted(Celsius(21.5)),  # noqa: F704
    "circle": await adapted(Circle(3)),  # noqa: F704
    "square": await adapted(Square(4), expected=Shape(4)),  # noqa: F704
    "dog": await adapted(Dog("rex"), expected=Animal("rex")),  # noqa: F704
    "containers": await adapted(  # noqa: F704
        {
            Vector(1, 1): [segment, {Vector(2, 2), Vector(3, 3)}],
            "tuple": (Stamp(1), Mood.HAPPY, frozenset({Tag("t")})),
            "dataclass": Point(Vector(0, 1), Tag("x")),
            "namedtuple": Pair(UserId(1), Celsius(0)),
        }
    ),
}
results["checked"] = {
    "argument": await outcome(service.hops(Checked(1))),  # noqa: F704
    "echo": await compared(Checked(1, ("worker", "main")), service.echo(Checked(1))),  # noqa: F704
}
results["places"] = {
    "arguments": await outcome(  # noqa: F704
        service.typeNames(Vector(1, 2), Stamp(3), tag=Tag("x"), mood=Mood.HAPPY, nested=[{"s": segment}])
    ),
    "returned": await compared(  # noqa: F704
        ((Vector(1, 2), [UserId(7)]), {"key": segment, "mood": Mood.GRUMPY}),
        service.echoAll(Vector(1, 2), [UserId(7)], key=segment, mood=Mood.GRUMPY),
    ),
}
results["shadowWarnings"] = {
    "main": values_shared.SHADOW_WARNINGS,
    "worker": await outcome(service.shadowWarnings()),  # noqa: F704
}

# ---- errors ------------------------------------------------------------------------------------------------------

errors = results["errors"] = {}
receivedBefore = await service.received()  # noqa: F704
errors["argument"] = await outcome(service.echoAll(1, {"points": [0, 1, 2, Opaque()]}))  # noqa: F704
errors["keyword"] = await outcome(service.echoAll(1, x={"deep": [Opaque()]}))  # noqa: F704
errors["receivedDuring"] = (await service.received()) - receivedBefore  # noqa: F704
errors["returned"] = await outcome(service.returnUnsendable())  # noqa: F704
errors["afterReturned"] = await outcome(service.echo("still serving 1"))  # noqa: F704
errors["missingOnMain"] = await outcome(service.makeSecret())  # noqa: F704
errors["afterMissingOnMain"] = await outcome(service.echo("still serving 2"))  # noqa: F704
errors["missingOnWorker"] = await outcome(service.echo({"token": Token("main only")}))  # noqa: F704
errors["afterMissingOnWorker"] = await outcome(service.echo("still serving 3"))  # noqa: F704

# ---- crafted payloads, straight to the worker's dispatcher ---------------------------------------------------------


def call(module, name, *args):
    """A pickle that calls ``module.name(*args)`` when a standard unpickler loads it: GLOBAL, arguments, REDUCE."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + pickle.dumps(args, protocol=2)[2:-1] + b"R."


def stackGlobal(module, name, *args):
    """The same with protocol 4's STACK_GLOBAL, which accepts dotted names."""
    strings = b"".join(b"\x8c" + bytes([len(text.encode())]) + text.encode() for text in (module, name))
    return b"\x80\x04" + strings + b"\x93" + pickle.dumps(args, protocol=2)[2:-1] + b"R."


MARKER = "__the_argument_goes_here__"


async def validRequest():
    """A well-formed request to ValueService.echo(MARKER), as workerlib itself encodes it."""
    target = protocol.ServiceTarget("ValueService", "values_shared", "echo")
    encoded = protocol.encodeRequest(protocol.Request(protocol.OP_CALL, target, (MARKER,), {}))
    return await encoded if inspect.isawaitable(encoded) else encoded


def injected(payload, ops):
    """``payload`` with the pickled string MARKER replaced by ``ops`` (opcodes leaving one object on the stack).

    The frame is dropped (frames are optional) so no length goes stale; the MEMOIZE after the string then memoizes
    what ``ops`` built, so later memo references still point where they did.
    """
    if payload[:3] != b"\x80\x05\x95":
        raise ValueError(f"expected one framed protocol 5 pickle, got {payload[:12]!r}")
    body = payload[11:]
    string = b"\x8c" + bytes([len(MARKER)]) + MARKER.encode()
    if body.count(string) != 1:
        raise ValueError("the marker is not in the request once")
    return b"\x80\x05" + body.replace(string, ops)


def evalOps(code):
    return b"\x8c\x08builtins\x8c\x04eval\x93\x8c" + bytes([len(code)]) + code.encode() + b"\x85R"


request = await outcome(validRequest())  # noqa: F704
craftedRequest = {}
if "value" in request:
    craftedRequest["harmless"] = now(lambda: injected(request["value"], b"\x8c\x08harmless"))
    craftedRequest["eval"] = now(
        lambda: injected(request["value"], evalOps("setattr(__import__('builtins'), 'PWNED_NESTED', True)"))
    )
else:
    craftedRequest["harmless"] = craftedRequest["eval"] = request
enumTamper = (
    call("workerlib.codec", "_construct", "values_shared", "Color", False, (1,))[:-1]
    + pickle.dumps({"_value_": 99, "_name_": "PWNED", "pwned": True}, protocol=2)[2:-1]
    + b"b."
)

crafted = {
    "os.system": now(lambda: call("os", "system", "echo pwned")),
    "posix.system": now(lambda: stackGlobal("posix", "system", "echo pwned")),
    "builtins.eval": now(lambda: call("builtins", "eval", "setattr(__import__('builtins'), 'PWNED_EVAL', True)")),
    "builtins.exec": now(lambda: call("builtins", "exec", "import builtins; builtins.PWNED_EXEC = True")),
    "subprocess.Popen": now(lambda: call("subprocess", "Popen", ["echo", "pwned"])),
    "importlib.import_module": now(lambda: call("importlib", "import_module", "colorsys")),
    "builtins.__import__": now(lambda: call("builtins", "__import__", "colorsys")),
    "module-not-imported": now(lambda: b"\x80\x02cthis\ns\n."),
    "object.__subclasses__": now(lambda: stackGlobal("builtins", "object.__subclasses__")),
    "eval-inside-a-valid-request": craftedRequest["eval"],
    "enum-member-tampering": {"value": enumTamper},
    "set-class-attribute": now(lambda: b"\x80\x02cvalues_shared\nPoint\nN}X\x05\x00\x00\x00pwnedK\x01s\x86b."),
}


async def dispatchRaw(payload):
    """Send ``payload`` to the worker as a request frame on the client's channel, and decode the reply."""
    link = service._connection.link
    frame = await link.request(protocol.FrameKind.REQUEST, payload, "a crafted request")
    decoded = protocol.decodeReply(frame.payload, frame.attached)
    if inspect.isawaitable(decoded):
        decoded = await decoded
    ok, value = decoded[0], decoded[1]
    if ok:
        return {"ok": True, "value": repr(value)}
    return {"ok": False, "typeName": value.typeName, "message": value.message}


craftedResults = results["crafted"] = {"evidenceBefore": await outcome(service.evidence())}  # noqa: F704
# The injection keeps a request valid: with a harmless string in place of the marker, the worker serves it.
if "value" in craftedRequest["harmless"]:
    craftedResults["injectionControl"] = await outcome(dispatchRaw(craftedRequest["harmless"]["value"]))  # noqa: F704
else:
    craftedResults["injectionControl"] = craftedRequest["harmless"]
for name, built in crafted.items():
    if "error" in built:
        craftedResults[name] = {"building": built}
        continue
    craftedResults[name] = {
        "reply": await outcome(dispatchRaw(built["value"])),  # noqa: F704
        "stillServing": await outcome(service.echo(name)),  # noqa: F704
    }
craftedResults["evidenceAfter"] = await outcome(service.evidence())  # noqa: F704

# ---- large data --------------------------------------------------------------------------------------------------

results["large"] = {}
for name in LARGE_NAMES:
    value = large(name)
    started = time.perf_counter()
    echo = await compared(value, service.echo(value), compare=largeDifference)  # noqa: F704
    seconds = time.perf_counter() - started
    results["large"][name] = {
        "echo": echo,
        "echoSeconds": round(seconds, 3),
        "argument": await outcome(service.check(name, value, table="large")),  # noqa: F704
        "returned": await compared(large(name), service.makeLarge(name), compare=largeDifference),  # noqa: F704
    }
tenMegabytes = large("bytes-10MB")
results["large"]["bytes-10MB"]["summary"] = {
    "worker": await outcome(service.summarize(tenMegabytes)),  # noqa: F704
    "main": {"type": "bytes", "length": len(tenMegabytes), "sha256": hashlib.sha256(tenMegabytes).hexdigest()},
}

pagekit.finish(results)
