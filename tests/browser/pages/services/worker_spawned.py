"""Started from the main thread with Spawned.spawn()."""

from workerlib import WorkerService


class Spawned(WorkerService):
    def ping(self, value: str) -> str:
        return f"pong {value}"
