"""Worker of the values pages: implements values_shared.ValueService."""

import builtins
import hashlib
import sys

import values_async
import values_shared
import values_worker_only  # noqa: F401 - registers Secret's adapter, on this side only
from values_shared import Checked, Color, Opaque, Point, Secret, difference, large, largeDifference

values_shared.SIDE = "worker"

TABLES = {"values": values_shared.catalog, "async": values_async.catalog}
PROBE_MODULES = ("colorsys", "this", "antigravity", "webbrowser", "subprocess", "importlib", "os", "posix")


class ValueServiceImpl(values_shared.ValueService):
    def __init__(self):
        self.count = 0

    def echo(self, value):
        self.count += 1
        return value

    def echoAll(self, *args, **kwargs):
        self.count += 1
        return args, kwargs

    def check(self, name, value, table="values"):
        self.count += 1
        expected = large(name) if table == "large" else TABLES[table]()[name]
        found = largeDifference(expected, value) if table == "large" else difference(expected, value)
        return {"type": type(value).__qualname__, "difference": found}

    def make(self, name, table="values"):
        return large(name) if table == "large" else TABLES[table]()[name]

    def makeAll(self, table="values"):
        return TABLES[table]()

    def typeNames(self, *args, **kwargs):
        return [type(arg).__qualname__ for arg in args], {
            key: type(value).__qualname__ for key, value in kwargs.items()
        }

    def sharing(self, value):
        kind, data = value
        if kind == "pair":  # [a, a]
            return data[0] is data[1]
        if kind == "cycle":  # a list that contains itself
            return data[0] is data
        if kind == "dict-cycle":
            return data["self"] is data
        if kind == "dataclass-cycle":
            return data.y is data
        if kind == "adapted-pair":
            return data[0] is data[1]
        raise ValueError(kind)

    def makeShared(self):
        return values_shared.sharedStructures()

    def hops(self, checked):
        return checked.hops if isinstance(checked, Checked) else repr(checked)

    def calls(self):
        return dict(values_shared.CALLS)

    def shadowWarnings(self):
        return values_shared.SHADOW_WARNINGS

    def received(self):
        return self.count

    def makeSecret(self):
        return {"secret": Secret("only the worker can encode this")}

    def returnUnsendable(self):
        return {"ok": 1, "bad": [0, Opaque()]}

    def evidence(self):
        return {
            "builtins": sorted(name for name in vars(builtins) if name.startswith("PWNED")),
            "modules": sorted(name for name in PROBE_MODULES if name in sys.modules),
            "pointPwned": "pwned" in vars(Point),
            "colorRed": [Color.RED.value, Color.RED.name, "pwned" in vars(Color.RED)],
        }

    def summarize(self, value):
        self.count += 1
        digest = hashlib.sha256(value).hexdigest() if isinstance(value, bytes) else None
        return {"type": type(value).__qualname__, "length": len(value), "sha256": digest}

    def makeLarge(self, name):
        return large(name)
