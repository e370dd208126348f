"""Worker 'chan': two services on one channel, and methods that report what crossed and how.

The main thread imports this file too, for the service classes; that serves nothing there.
"""

import gc
import uuid

import channelkit
import js

from workerlib import WorkerService, codec, server, transfer

# Before any service is defined: the port workerlib is handed later must be counted from its first message.
channelkit.installCounters()

WORKER_TOKEN = uuid.uuid4().hex


class Lab(WorkerService):
    """The channel page's main service."""

    def __init__(self) -> None:
        self.kept = None

    def add(self, a, b):
        return a + b

    def portStats(self):
        """Messages posted and received on each port workerlib was handed in this worker, as counted in JavaScript."""
        return channelkit.handedPortCounts()

    def token(self):
        return WORKER_TOKEN

    def checksum(self, value):
        return channelkit.checksum(value)

    async def inspect(self, value):
        return await channelkit.describe(value)

    async def roundTrip(self, value):
        """What arrived, described here, and the value itself sent back (copied: no transfer())."""
        return {"seen": await channelkit.describe(value), "value": value}

    def overwriteFirstByte(self, array):
        """Set this side's copy's first byte to 255 and send it back."""
        array.fill(255, 0, 1)
        return array

    def giveBuffer(self, size, seed, moved):
        """A new patterned ArrayBuffer, kept here too; sent with transfer() when ``moved``."""
        self.kept = channelkit.pattern(size, seed)
        return transfer(self.kept) if moved else self.kept

    def keptLength(self):
        return int(self.kept.byteLength)

    def take(self, *args, **kwargs):
        return len(args), sorted(kwargs)

    def returnFunction(self):
        return js.Function.new("return 1")

    def returnNested(self):
        return {"fine": 1, "inside": [channelkit.jsValue("{ f: () => 1 }")]}

    def echo(self, value):
        return value

    def records(self, count):
        return [{"id": n, "name": f"name {n}", "score": n * 0.5, "tags": [f"t{n % 7}", n]} for n in range(count)]

    def sameTwice(self, value):
        return value[0] is value[1]

    def pendingParts(self):
        """Parts this worker's sessions hold for requests that have not arrived (none, once each request came)."""
        sessions = [obj for obj in gc.get_objects() if isinstance(obj, server.Session)]
        return sum(len(session.parts) for session in sessions)

    def returnJoined(self):
        """The stand-in for a list sent in parts, with no parts sent: the main thread must refuse the reply."""
        return codec.JOINED


class Second(WorkerService):
    """A second service in the same worker, connected to separately."""

    def ping(self, text):
        return f"pong {text}"

    def token(self):
        return WORKER_TOKEN
