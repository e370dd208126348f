"""The services of the slow worker: importing this module in the worker serves them; main imports it for the classes."""

import channelkit
import js

from workerlib import WorkerService


class SlowFirst(WorkerService):
    def add(self, a, b):
        return a + b

    def loading(self):
        """When this worker started loading, saw the main thread connect, and finished loading (Date.now(), ms)."""
        return dict(js.globalThis.slowLoading.to_py())

    def portStats(self):
        return channelkit.handedPortCounts()


class SlowSecond(WorkerService):
    def shout(self, text):
        return text.upper()
