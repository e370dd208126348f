"""Loaded into every test page's main thread: how a page hands its results to the test that runs it."""

import json
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
