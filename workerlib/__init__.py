"""workerlib: transparent Python-to-Python calls from a PyScript main thread into Pyodide web workers.

In a worker, subclass :class:`WorkerService`; on the main thread, ``client = await Service.connect()`` and call its
methods as if the service were local. Values cross with their exact types; :func:`adapter` lets any class cross.
"""

from ._version import VERSION
from .adapters import Adapter, AdapterShadowedWarning, adapter
from .calls import Call, CallTiming, Stream
from .client import ServiceClient, Worker, WorkerHandle
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
from .pool import Pool, PoolResults, PoolStats
from .ports import Transfer, transfer
from .server import Callback
from .service import WorkerService, checkConfig, connectToWorker, export, exportFrom

__version__ = VERSION

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
