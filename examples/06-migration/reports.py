"""The src of the worker named "reports": the original's Option #2, a worker module that exports its own functions.

This file is as it was for the original: ``from workerlib import export`` and ``export(...)`` calls. What changed is
only how workerlib gets into the worker: the original's ``packages = ["https://.../workerlib.toml"]`` with
``experimental_remote_packages`` becomes this release's wheels (or its own package file), see ``reports.toml``.
"""

from statistics import fmean

from textstats import topWords

from workerlib import export


def scoreSummary(scores: list[float]) -> tuple[float, float, float]:
    """The lowest, the mean and the highest of ``scores``; ``ValueError`` when there are none."""
    if not scores:
        raise ValueError("no scores to summarise")
    return min(scores), fmean(scores), max(scores)


def histogram(scores: list[float], width: int = 10) -> dict[int, int]:
    """How many of ``scores`` fall in each band of ``width`` points, by the band's lowest score."""
    bands: dict[int, int] = {}
    for score in scores:
        band = int(score // width) * width
        bands[band] = bands.get(band, 0) + 1
    return dict(sorted(bands.items()))


async def ranked(scores: dict[str, float]) -> list[str]:
    """The names in ``scores``, the best first: an ``async`` function is exported like a plain one."""
    return sorted(scores, key=lambda name: -scores[name])


export(scoreSummary, histogram, ranked)
export(topWords)  # a function of another module, exported from here as the original's Option #2 did
