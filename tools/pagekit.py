"""Loaded into every test page's main thread: how a page hands its results to the test that runs it."""

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import js


def finish(results: dict[str, Any]) -> None:
    """Publish the page's results as JSON on ``window.pageResult``; the test harness waits for it."""
    js.window.pageResult = json.dumps(results, default=repr)


def describeError(error: BaseException) -> dict[str, Any]:
    """An exception as JSON-friendly data: class, module, message and notes."""
    return {
        "type": type(error).__qualname__,
        "module": type(error).__module__,
        "message": str(error),
        "notes": list(getattr(error, "__notes__", [])),
    }


async def outcome(awaitable: Awaitable[Any]) -> dict[str, Any]:
    """``{"value": result}`` or ``{"error": describeError(...)}`` for an awaitable."""
    try:
        return {"value": await awaitable}
    except Exception as error:
        return {"error": describeError(error)}


def raised(call: Callable[[], Any]) -> dict[str, Any]:
    """``{"error": ...}`` if ``call()`` raises at once (before anything is awaited), else ``{"returned": repr}``."""
    try:
        result = call()
    except Exception as error:
        return {"error": describeError(error)}
    if hasattr(result, "close"):
        result.close()  # an un-awaited coroutine: close it so it does not warn
    return {"returned": repr(result)}


async def section(results: dict[str, Any], name: str, body: Callable[[], Awaitable[Any]], deadline: float) -> None:
    """Run one section of a page under a deadline: ``results[name]`` is what it returned, or its error (and
    traceback) when it failed or outlasted ``deadline`` seconds, so one broken behaviour fails its own tests only."""
    try:
        results[name] = await asyncio.wait_for(body(), deadline)
    except Exception as error:
        results[name] = {"sectionFailed": describeError(error), "traceback": traceback.format_exc()}
