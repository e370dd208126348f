"""The original workerlib's ``[adapters]`` section, now one line of Python in a module both threads import.

The original read this from the configs, and asked for it in both the main thread's and the worker's::

    [adapters]
    "units" = ["Length", "lengthEncoder", "lengthDecoder"]

A worker's config sections never reach its Python, so workerlib refuses that section (``ConfigError``, with the line
below in its message). ``main.py`` and ``exports.py`` import this module, so each thread registers the adapter once.
"""

from units import Length, lengthDecoder, lengthEncoder

from workerlib import adapter

adapter(Length, encode=lengthEncoder, decode=lengthDecoder)
