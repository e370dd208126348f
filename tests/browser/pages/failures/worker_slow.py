"""Worker 'slow': keeps its thread busy for two seconds before it defines its service, like a heavy import."""

import time

from workerlib import WorkerService

end = time.monotonic() + 2.0
while time.monotonic() < end:
    pass


class Slow(WorkerService):
    def ready(self) -> str:
        return "ready"
