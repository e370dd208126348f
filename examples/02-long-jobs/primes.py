"""Runs in the workers: CPU-bound prime counting, as a stream, with progress reports, and as plain calls."""

from collections.abc import Callable, Iterator

from workerlib import WorkerService


def isPrime(n: int) -> bool:
    """Whether ``n`` is prime, by trial division: slow on purpose."""
    if n < 2:
        return False
    divisor = 2
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 1
    return True


class Primes(WorkerService):
    """Prime numbers, the slow way: enough work to want it off the main thread."""

    def primesBelow(self, limit: int) -> Iterator[int]:
        """Each prime below ``limit``, as soon as it is found."""
        for n in range(limit):
            if isPrime(n):
                yield n

    def count(self, start: int, stop: int, progress: Callable[[int], object] | None = None) -> int:
        """How many primes lie in [start, stop); reports each finished tenth of the range to ``progress``."""
        found = 0
        step = max((stop - start) // 10, 1)
        for n in range(start, stop):
            found += isPrime(n)
            if progress is not None and (n - start + 1) % step == 0:
                progress((n - start + 1) * 100 // (stop - start))  # fire-and-forget, from this sync loop
        return found

    def countIn(self, bounds: tuple[int, int]) -> int:
        """How many primes lie in [start, stop): one argument, for ``pool.map``."""
        return self.count(*bounds)

    def forever(self) -> None:
        """Never ends on its own: only cancelling stops it."""
        n = 0
        while True:
            n += isPrime(n)
