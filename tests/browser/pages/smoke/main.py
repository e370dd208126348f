"""A small page: one service, connect and two calls; run with and without cross-origin isolation."""

import js
import pagekit
from worker import Echo

echo = await Echo.connect()  # noqa: F704 - PyScript runs main scripts with top-level await
pagekit.finish(
    {
        "echo": repr(await echo.echo({"a": (1, 2), "b": {3, 4}})),  # noqa: F704
        "add": await echo.add(40),  # noqa: F704
        "isolated": bool(js.crossOriginIsolated),
    }
)
