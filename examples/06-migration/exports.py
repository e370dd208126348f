"""The src of the worker named "legacy": the original's Option #1, existing modules served unchanged.

The original pointed ``src`` at its own ``workerlib.py`` and took the functions from the worker's config::

    [exports]
    "textstats" = ["wordCount", "topWords", "shout"]
    "units" = ["longest", "total"]

That section is now this file, one ``exportFrom`` line per module. ``textstats.py`` and ``units.py`` are untouched:
they are still listed under ``[files]`` in ``legacy.toml``, and ``exportFrom`` imports them here. A module missing
from ``[files]``, or a name it lacks, fails right here when the worker starts, saying what to change.
"""

import registrations  # noqa: F401 - registers the Length adapter (the original's [adapters]) in this worker too

from workerlib import diagnostics, exportFrom

exportFrom("textstats", "wordCount", "topWords", "shout")
exportFrom("units", "longest", "total")

# The original printed its diagnostics to the console when it started as a worker; print them yourself now.
print("\n".join(diagnostics))
