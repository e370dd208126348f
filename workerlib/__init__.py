"""workerlib: transparent Python-to-Python calls from a PyScript main thread into Pyodide web workers.

In a worker, subclass :class:`WorkerService`; on the main thread, ``client = await Service.connect()`` and call its
methods as if the service were local. Values cross with their exact types; :func:`adapter` lets any class cross.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._version import VERSION
from .adapters import Adapter, AdapterShadowedWarning, adapter
from .codec import DecodeError, UnsendableError
from .decorators import typechecked
from .diagnosis import (
    ABSENT,
    LOGGER_NAME,
    UNKNOWN,
    diagnostics,
    disableLogging,
    elapsedTime,
    enableLogging,
    systemVersions,
)
from .errors import (
    AdapterError,
    CallbackExpiredError,
    ConfigError,
    ConnectError,
    ProtocolError,
    RemoteError,
    WorkerClosedError,
    WorkerlibError,
)
from .ports import Transfer, transfer
from .server import Callback
from .service import WorkerService, checkConfig, connectToWorker, export, exportFrom

if TYPE_CHECKING:
    from .calls import Call, CallTiming, Stream
    from .client import ServiceClient, Worker, WorkerHandle
    from .pool import Pool, PoolResults, PoolStats

__version__ = VERSION

_MAIN_THREAD_NAMES = {
    "Call": "calls",
    "CallTiming": "calls",
    "Stream": "calls",
    "ServiceClient": "client",
    "Worker": "client",
    "WorkerHandle": "client",
    "Pool": "pool",
    "PoolResults": "pool",
    "PoolStats": "pool",
}
"""Public names of the main thread's side, by module: imported on first use (PEP 562), so that a worker that only
serves never imports clients, pools or wrapt (a sixth of its start in Pyodide). tests/unit/test_public_api.py ties this
table to the imports above."""


def __getattr__(name: str) -> Any:
    module = _MAIN_THREAD_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'workerlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later reads find it as a plain attribute
    return value


__all__ = [
    "ABSENT",
    "LOGGER_NAME",
    "UNKNOWN",
    "Adapter",
    "AdapterError",
    "AdapterShadowedWarning",
    "Call",
    "CallTiming",
    "Callback",
    "CallbackExpiredError",
    "ConfigError",
    "ConnectError",
    "DecodeError",
    "Pool",
    "PoolResults",
    "PoolStats",
    "ProtocolError",
    "RemoteError",
    "ServiceClient",
    "Stream",
    "Transfer",
    "UnsendableError",
    "Worker",
    "WorkerClosedError",
    "WorkerHandle",
    "WorkerService",
    "WorkerlibError",
    "__version__",
    "adapter",
    "connectToWorker",
    "diagnostics",
    "disableLogging",
    "elapsedTime",
    "enableLogging",
    "export",
    "exportFrom",
    "systemVersions",
    "transfer",
    "typechecked",
]

# The original workerlib read [adapters] and [exports] from PyScript configs; this one cannot see a worker's config, so
# such a section fails here, on import, with the Python to write instead, rather than being ignored.
checkConfig()
