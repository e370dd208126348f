"""A main script that never reports: only the worker's traceback can end the page, so the harness must notice it."""

import asyncio

from pyscript import workers

await workers["broken"]  # noqa: F704 - PyScript runs main scripts with top-level await
await asyncio.Event().wait()  # noqa: F704
