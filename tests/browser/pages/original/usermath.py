"""An existing module, written with no thought of workerlib: nothing in it imports or registers anything."""

import asyncio
from fractions import Fraction


def add(a, b):
    return a + b


def mean(values):
    """The exact mean, as a Fraction: exact types cross as themselves."""
    return Fraction(sum(values), len(values))


async def slowSplit(text, sep=" "):
    await asyncio.sleep(0)
    return tuple(text.split(sep))


def fail(message):
    raise LookupError(message)


LIMIT = 10
