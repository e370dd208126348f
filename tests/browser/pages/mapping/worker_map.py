"""Worker 'mapper': the service the map page calls, and what it saw of cancellation.

The main thread imports this file too, for the service class; that serves nothing there.
"""

import asyncio

import channelkit

from workerlib import WorkerService

# Before the service is defined: the port workerlib is handed later must be counted from its first message.
channelkit.installCounters()


class Mapper(WorkerService):
    """Adds, and holds calls until they are cancelled."""

    def __init__(self) -> None:
        self.stopped = 0

    def add(self, a, b):
        return a + b

    async def hold(self, x):
        """Waits until cancelled, counting the calls that ended."""
        try:
            await asyncio.sleep(60)
        finally:
            self.stopped += 1
        return x

    async def holdUnlessThree(self, x):
        if x == 3:
            raise ValueError("three")
        return await self.hold(x)

    def stoppedCount(self):
        return self.stopped

    def portStats(self):
        """Messages posted and received on each port workerlib was handed in this worker, as counted in JavaScript."""
        return channelkit.handedPortCounts()
