"""Main side of the package-file page: workerlib loads from ``packages = [".../workerlib.toml"]`` in main and worker,
with ``packages_cache = "passthrough"`` (no micropip, nothing from a CDN), and a call crosses."""

import pagekit
from worker import Loaded, loaded

service = await Loaded.connect()  # noqa: F704 - PyScript runs main scripts with top-level await
pagekit.finish(
    {
        "main": loaded(),
        "worker": await service.where(),  # noqa: F704
        "scaled": await service.scale({"a": 1, "b": 2.5}, factor=4),  # noqa: F704
    }
)
