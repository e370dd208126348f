"""The installed distribution's version, read once: at the bottom of the import ladder, so that any module may
report it without importing the package's ``__init__``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("workerlib")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"
