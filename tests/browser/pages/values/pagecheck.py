"""Helpers both values pages' main scripts use to run one check and turn its outcome into JSON-friendly data."""

import asyncio

import pagekit
from values_shared import difference

TIMEOUT = 120.0  # seconds; a call that hangs is reported as a TimeoutError instead of stalling the whole page


def describe(error):
    found = pagekit.describeError(error)
    found["isTypeError"] = isinstance(error, TypeError)
    found["mro"] = [cls.__qualname__ for cls in type(error).__mro__]
    return found


async def outcome(awaitable, seconds=TIMEOUT):
    """{"value": result} or {"error": ...}."""
    try:
        return {"value": await asyncio.wait_for(awaitable, seconds)}
    except Exception as error:
        return {"error": describe(error)}


async def compared(expected, awaitable, compare=difference, seconds=TIMEOUT):
    """{"type": exact type name, "difference": None or where it differs} for the awaited value, or {"error": ...}."""
    try:
        value = await asyncio.wait_for(awaitable, seconds)
    except Exception as error:
        return {"error": describe(error)}
    try:
        return {"type": type(value).__qualname__, "difference": compare(expected, value)}
    except Exception as error:
        return {"error": describe(error), "comparing": True}


async def fact(awaitable, predicate, seconds=TIMEOUT):
    """{"value": predicate(result)} or {"error": ...}."""
    try:
        value = await asyncio.wait_for(awaitable, seconds)
        return {"value": bool(predicate(value))}
    except Exception as error:
        return {"error": describe(error)}


def now(thunk):
    """{"value": thunk()} or {"error": ...}, for steps that run on this thread only."""
    try:
        return {"value": thunk()}
    except Exception as error:
        return {"error": describe(error)}
