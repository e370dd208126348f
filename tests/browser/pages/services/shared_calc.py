"""The Calculator interface: imported by the main thread and by the worker that implements it."""

from workerlib import WorkerService


class Calculator(WorkerService):
    """Arithmetic done in a worker."""

    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        raise NotImplementedError

    async def slowSquare(self, n: int, delay: float = 0.0) -> int:
        """Square ``n`` after sleeping ``delay`` seconds."""
        raise NotImplementedError

    def params(self, a, b=20, *args, k, flag=False, **kwargs) -> dict:
        """Report exactly what arrived."""
        raise NotImplementedError

    def whoami(self) -> str:
        raise NotImplementedError

    def callCount(self) -> int:
        raise NotImplementedError
